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

  it("a VM read alone is reported, and a listing that started before that read does not undo it", async () => {
    const feed = new ChangeFeed(snapshot([vm("a", "Stopped"), vm("b", "Stopped")]), 1);
    feed.observeOne(3, "a", vm("a", "Running"));
    feed.observe(2, [vm("a", "Stopped"), vm("b", "Running")]); // started before the read: b counts, a does not
    feed.observe(4, [vm("a", "Running"), vm("b", "Running")]);
    feed.observeOne(5, "a", undefined); // Get-VM -Id found nothing: removed
    feed.end();
    const events: string[] = [];
    for await (const e of feed.events()) events.push(`${e.externalId}:${e.type}`);
    expect(events).toEqual(["a:started", "b:started", "a:deleted"]);
  });

  it("a listing newer than the feed but older than a VM's own read keeps that read for the VM", async () => {
    const feed = new ChangeFeed(snapshot([vm("a", "Stopped")]), 1);
    feed.observeOne(3, "a", vm("a", "Paused"));
    feed.observe(2, [vm("a", "Stopped")]); // newer than the feed's listing 1, older than a's read 3
    feed.end();
    const types: string[] = [];
    for await (const e of feed.events()) types.push(e.type);
    expect(types).toEqual(["started", "paused"]);
  });
});
