import { describe, expect, it } from "vitest";
import { setCondition, type WithConditions } from "./conditions.ts";

const at = (iso: string) => () => new Date(iso);

describe("setCondition", () => {
  const cases: Record<string, { reason: string; first: "True" | "False"; second: "True" | "False"; message?: string; wantChanged: boolean; wantTime: string }> = {
    "unchanged condition: no change, time stays": { reason: "same", first: "True", second: "True", wantChanged: false, wantTime: "2026-01-01T00:00:00Z" },
    "status flips: time moves": { reason: "flip", first: "True", second: "False", wantChanged: true, wantTime: "2026-01-01T00:01:00Z" },
    "only the message changes: time stays": { reason: "msg", first: "False", second: "False", message: "other", wantChanged: true, wantTime: "2026-01-01T00:00:00Z" },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const status: WithConditions = {};
      setCondition(status, { type: "Ready", status: c.first, reason: c.reason, observedGeneration: 1 }, at("2026-01-01T00:00:00.123Z"));
      const changed = setCondition(status, { type: "Ready", status: c.second, reason: c.reason, message: c.message, observedGeneration: 1 }, at("2026-01-01T00:01:00Z"));
      expect(changed).toBe(c.wantChanged);
      expect(status.conditions).toHaveLength(1);
      expect(status.conditions![0]!.lastTransitionTime).toBe(c.wantTime);
    });
  }

  it("a new observedGeneration is a change but not a transition", () => {
    const status: WithConditions = {};
    setCondition(status, { type: "Synced", status: "True", reason: "ok", observedGeneration: 1 }, at("2026-01-01T00:00:00Z"));
    expect(setCondition(status, { type: "Synced", status: "True", reason: "ok", observedGeneration: 2 }, at("2026-01-02T00:00:00Z"))).toBe(true);
    expect(status.conditions![0]).toMatchObject({ observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z" });
  });
});
