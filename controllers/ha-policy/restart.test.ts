import { describe, expect, it } from "vitest";
import { groupGate, planRestarts, suspectAfterMs, type RestartCandidate } from "./restart.ts";

const vm = (key: string, priority: RestartCandidate["priority"], more: Partial<RestartCandidate> = {}): RestartCandidate => ({ key, priority, asked: false, started: false, ready: false, ...more });

describe("which VMs of a fenced host restart now", () => {
  const cases: { reason: string; vms: RestartCandidate[]; max?: number; waitFor?: "Started" | "Ready"; want: { ask: string[]; group?: string; complete: boolean; total: number; started: number; notRestartable?: number } }[] = [
    {
      reason: "the Highest group goes first, the lower one waits",
      vms: [vm("a", "Low"), vm("b", "Highest"), vm("c", "Highest")],
      want: { ask: ["b", "c"], group: "Highest", complete: false, total: 3, started: 0 },
    },
    {
      reason: "at most maxConcurrentRestarts asked and not yet started",
      vms: [vm("a", "High", { asked: true }), vm("b", "High"), vm("c", "High"), vm("d", "High")],
      max: 2,
      want: { ask: ["b"], group: "High", complete: false, total: 4, started: 0 },
    },
    {
      reason: "the next group once the previous one is started",
      vms: [vm("a", "Highest", { asked: true, started: true }), vm("b", "Low")],
      want: { ask: ["b"], group: "Low", complete: false, total: 2, started: 1 },
    },
    {
      reason: "with waitFor Ready, started is not enough",
      vms: [vm("a", "Highest", { asked: true, started: true }), vm("b", "Low")],
      waitFor: "Ready",
      want: { ask: [], group: "Highest", complete: false, total: 2, started: 1 },
    },
    {
      reason: "Disabled never restarts and a VM on the host's own storage cannot: neither holds the failover up",
      vms: [vm("a", "Disabled"), vm("b", "Medium", { notRestartable: "local disks" }), vm("c", "Medium", { asked: true, started: true })],
      want: { ask: [], complete: true, total: 1, started: 1, notRestartable: 1 },
    },
    { reason: "a host without VMs completes at once", vms: [], want: { ask: [], complete: true, total: 0, started: 0 } },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const plan = planRestarts(c.vms, { maxConcurrent: c.max ?? 8, waitFor: c.waitFor ?? "Started" });
      expect(plan).toMatchObject({ ...c.want, notRestartable: c.want.notRestartable ?? 0 });
      if (!c.want.group) expect(plan.group).toBeUndefined();
    });
  }
});

describe("when a silent host is Suspect", () => {
  it("after missedHeartbeats renewals of the policy's interval, or of the watcher's own when it renews less often", () => {
    expect(suspectAfterMs({ heartbeatIntervalSeconds: 2, missedHeartbeats: 3 }, 0)).toBe(6_000);
    expect(suspectAfterMs({ heartbeatIntervalSeconds: 2, missedHeartbeats: 3 }, 5_000)).toBe(15_000);
    expect(suspectAfterMs({ heartbeatIntervalSeconds: 1, missedHeartbeats: 2 }, 1_000)).toBe(2_000);
  });
});

describe("restartOrder.delaySeconds between priority groups", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");
  it("starts the first group at once, waits the delay before the next, then goes", () => {
    expect(groupGate({}, "Highest", 5, now)).toEqual({ ask: true, patch: { restartingGroup: "Highest" } });
    const next = groupGate({ restartingGroup: "Highest" }, "Low", 5, now);
    expect(next).toEqual({ ask: false, patch: { restartingGroup: "Low", groupStartsAt: "2026-12-06T12:00:05.000Z" } });
    expect(groupGate({ restartingGroup: "Low", groupStartsAt: "2026-12-06T12:00:05.000Z" }, "Low", 5, now + 4_000).ask).toBe(false);
    expect(groupGate({ restartingGroup: "Low", groupStartsAt: "2026-12-06T12:00:05.000Z" }, "Low", 5, now + 5_000).ask).toBe(true);
  });
  it("without a delay the next group goes at once", () => {
    expect(groupGate({ restartingGroup: "Highest" }, "Low", 0, now)).toEqual({ ask: true, patch: { restartingGroup: "Low" } });
  });
});
