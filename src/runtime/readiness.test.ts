import { describe, expect, it } from "vitest";
import { setCondition, type WithConditions } from "./conditions.ts";
import { settleReadiness, stalledWhen, type PassOutcome } from "./readiness.ts";

const at = () => new Date("2026-01-01T00:00:00Z");
const rules = stalledWhen(["NoHostFits"]);

function statusWithReady(ready?: { status: "True" | "False"; reason: string }): WithConditions {
  const status: WithConditions = {};
  if (ready) setCondition(status, { type: "Ready", ...ready, message: "why", observedGeneration: 1 }, at);
  return status;
}

const types = (s: WithConditions): Record<string, string> => Object.fromEntries((s.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));

describe("settleReadiness", () => {
  const cases: Record<string, { ready?: { status: "True" | "False"; reason: string }; outcome?: Partial<PassOutcome>; want: Record<string, string> }> = {
    "no Ready yet: Ready=False and Reconciling": { want: { Ready: "False/Reconciling", Reconciling: "True/Reconciling" } },
    "Ready: neither Reconciling nor Stalled": { ready: { status: "True", reason: "Running" }, want: { Ready: "True/Running" } },
    "not Ready, working on it: Reconciling with Ready's reason": { ready: { status: "False", reason: "Provisioning" }, want: { Ready: "False/Provisioning", Reconciling: "True/Provisioning" } },
    "not Ready and stuck: Stalled with Ready's reason": { ready: { status: "False", reason: "NoHostFits" }, want: { Ready: "False/NoHostFits", Stalled: "True/NoHostFits" } },
    "a failed pass is retried: Reconciling": { ready: { status: "True", reason: "Running" }, outcome: { failure: { terminal: false, message: "boom" } }, want: { Ready: "True/Running", Reconciling: "True/ReconcileError" } },
    "stuck, and the pass failed to be retried with backoff: still Stalled": { ready: { status: "False", reason: "NoHostFits" }, outcome: { failure: { terminal: false, message: "unreachable" } }, want: { Ready: "False/NoHostFits", Stalled: "True/NoHostFits" } },
    "a terminal failure: Stalled": { outcome: { failure: { terminal: true, message: "invalid" } }, want: { Ready: "False/ReconcileError", Stalled: "True/ReconcileError" } },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const status = statusWithReady(c.ready);
      settleReadiness(status, rules, { generation: 1, ...c.outcome }, at);
      expect(types(status)).toEqual(c.want);
    });
  }

  it("Reconciling goes once Ready; a second settle of the same status changes nothing (no write)", () => {
    const status = statusWithReady({ status: "False", reason: "Provisioning" });
    settleReadiness(status, rules, { generation: 1 }, at);
    setCondition(status, { type: "Ready", status: "True", reason: "Running", message: "", observedGeneration: 1 }, at);
    settleReadiness(status, rules, { generation: 1 }, at);
    expect(types(status)).toEqual({ Ready: "True/Running" });
    const before = structuredClone(status);
    settleReadiness(status, rules, { generation: 1 }, at);
    expect(status).toEqual(before);
  });
});
