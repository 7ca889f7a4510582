import { describe, expect, it } from "vitest";
import { advance, type Handler, type Phase, type Transition } from "./failover.ts";
import type { Failover } from "../../src/fleet/failovers.ts";

const start: Failover = { host: "kvm-1", phase: "Suspect", startedAt: "2026-12-06T00:00:00Z" };

function table(moves: Partial<Record<Phase, Transition>>): Record<Phase, Handler<string>> {
  const stay: Transition = { kind: "stay" };
  const h = (p: Phase): Handler<string> => () => Promise.resolve(moves[p] ?? stay);
  return { Suspect: h("Suspect"), Fencing: h("Fencing"), Fenced: h("Fenced"), Restarting: h("Restarting"), Completed: h("Completed"), Blocked: h("Blocked") };
}

describe("a host's failover, phase by phase", () => {
  it("goes on in one pass while each step is done: Suspect → Fencing → Fenced → Restarting, recording each", async () => {
    const seen: (string | undefined)[] = [];
    const end = await advance(
      table({ Suspect: { kind: "next", phase: "Fencing" }, Fencing: { kind: "next", phase: "Fenced", patch: { fencedAt: "t" } }, Fenced: { kind: "next", phase: "Restarting" } }),
      "kvm-1",
      start,
      (r) => Promise.resolve(void seen.push(r?.phase)),
    );
    expect(seen).toEqual(["Fencing", "Fenced", "Restarting", "Restarting"]);
    expect(end).toMatchObject({ phase: "Restarting", fencedAt: "t" });
  });

  it("stops at a fence that is not confirmed: Blocked with the reason, nothing further", async () => {
    const end = await advance(table({ Suspect: { kind: "next", phase: "Fencing" }, Fencing: { kind: "next", phase: "Blocked", patch: { message: "BMC unreachable" } } }), "kvm-1", start, () => Promise.resolve());
    expect(end).toMatchObject({ phase: "Blocked", message: "BMC unreachable" });
    expect(end?.fencedAt).toBeUndefined();
  });

  it("drops the record when the host answers the probe (back to Healthy)", async () => {
    const records: unknown[] = [];
    const end = await advance(table({ Suspect: { kind: "drop", event: { type: "Normal", reason: "HostAnswers", message: "heartbeat lost, host answers" } } }), "kvm-1", start, (r) => Promise.resolve(void records.push(r)));
    expect(end).toBeUndefined();
    expect(records).toEqual([undefined]);
  });
});
