import { describe, expect, it } from "vitest";
import type { ObservedPower, VmObservation } from "../contract/index.ts";
import { Backoff } from "./backoff.ts";
import { KnownVms, transition } from "./known-vms.ts";

function vm(externalId: string, power: ObservedPower): VmObservation {
  return { externalId, name: externalId, managed: false, power, cpus: 1, memoryMiB: 64, addresses: [] };
}

describe("KnownVms.replace: what changed while disconnected", () => {
  const cases: Record<string, { before: VmObservation[]; after: VmObservation[]; want: string[] }> = {
    "nothing changed, nothing reported": { before: [vm("a", "Running")], after: [vm("a", "Running")], want: [] },
    "a VM stopped while away": { before: [vm("a", "Running")], after: [vm("a", "Stopped")], want: ["stopped a"] },
    "a paused VM resumed": { before: [vm("a", "Paused")], after: [vm("a", "Running")], want: ["resumed a"] },
    "a VM was created and started": { before: [], after: [vm("b", "Running")], want: ["defined b", "started b"] },
    "a VM was created, not started": { before: [], after: [vm("b", "Stopped")], want: ["defined b"] },
    "a VM was deleted": { before: [vm("a", "Running")], after: [], want: ["deleted a"] },
    "an unknown state reports nothing": { before: [vm("a", "Running")], after: [vm("a", "Unknown")], want: [] },
  };
  for (const [reason, c] of Object.entries(cases)) {
    it(reason, () => {
      const known = new KnownVms();
      known.replace(c.before);
      const missed = known.replace(c.after);
      expect(missed.map((e) => `${e.type} ${e.externalId}`)).toEqual(c.want);
      for (const e of missed) expect(e.detail).toBe("missed while disconnected");
      expect(known.all().map((k) => `${k.externalId}=${k.power}`)).toEqual(c.after.map((v) => `${v.externalId}=${v.power}`));
    });
  }
});

describe("KnownVms.apply follows events", () => {
  it("tracks power through events and forgets deleted VMs", () => {
    const known = new KnownVms();
    const at = new Date();
    known.apply({ type: "defined", externalId: "a", at });
    expect(known.get("a")?.power).toBe("Stopped");
    known.apply({ type: "started", externalId: "a", at });
    known.apply({ type: "paused", externalId: "a", at });
    expect(known.get("a")?.power).toBe("Paused");
    known.apply({ type: "crashed", externalId: "a", at });
    expect(known.get("a")?.power).toBe("Crashed");
    known.apply({ type: "deleted", externalId: "a", at });
    expect(known.size).toBe(0);
  });
});

describe("transition", () => {
  it("names the event between two power states", () => {
    expect(transition("Stopped", "Running")).toBe("started");
    expect(transition("Paused", "Running")).toBe("resumed");
    expect(transition("Running", "Crashed")).toBe("crashed");
    expect(transition("Running", "Running")).toBeUndefined();
  });
});

describe("Backoff", () => {
  it("doubles up to the cap and starts over after reset", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1_000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it("jitters between half and all of the delay", () => {
    const b = new Backoff({ initialMs: 100, random: () => 0 });
    expect(b.next()).toBe(50);
  });
});
