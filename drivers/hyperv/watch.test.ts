import { describe, expect, it } from "vitest";
import type { VmObservation } from "../contract/index.ts";
import { ChangeFeed, differences, snapshot } from "./watch.ts";

function vm(id: string, power: VmObservation["power"]): VmObservation {
  return { externalId: id, name: id, managed: false, power, cpus: 1, memoryMiB: 256, addresses: [] };
}

describe("differences between two Get-VM listings", () => {
  const cases: Record<string, { before: VmObservation[]; after: VmObservation[]; want: string[] }> = {
    "a new stopped VM is defined": { before: [], after: [vm("a", "Stopped")], want: ["defined"] },
    "a new running VM is defined and started": { before: [], after: [vm("a", "Running")], want: ["defined", "started"] },
    "stopped to running is started": { before: [vm("a", "Stopped")], after: [vm("a", "Running")], want: ["started"] },
    "paused to running is resumed": { before: [vm("a", "Paused")], after: [vm("a", "Running")], want: ["resumed"] },
    "running to paused is paused": { before: [vm("a", "Running")], after: [vm("a", "Paused")], want: ["paused"] },
    "paused to stopped is stopped": { before: [vm("a", "Paused")], after: [vm("a", "Stopped")], want: ["stopped"] },
    "a VM no longer listed is deleted": { before: [vm("a", "Running")], after: [], want: ["deleted"] },
    "no change, no event": { before: [vm("a", "Running")], after: [vm("a", "Running")], want: [] },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => expect(differences(snapshot(c.before), snapshot(c.after)).map((e) => e.type)).toEqual(c.want));
  }
});

describe("ChangeFeed", () => {
  it("ignores a listing that started before the one it already applied", async () => {
    const feed = new ChangeFeed(snapshot([vm("a", "Stopped")]), 1);
    feed.observe(3, [vm("a", "Running")]);
    feed.observe(2, [vm("a", "Stopped")]); // older, finished late
    feed.end();
    const types: string[] = [];
    for await (const e of feed.events()) types.push(e.type);
    expect(types).toEqual(["started"]);
  });
});
