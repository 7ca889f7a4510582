import { describe, expect, it } from "vitest";
import type { VmMigrationObject } from "../../src/fleet/kinds.ts";
import { jobRunning } from "./moving.ts";

const now = Date.parse("2026-12-07T10:00:00Z");
const at = (msAgo: number): string => new Date(now - msAgo).toISOString();

function move(reason: string, changedMsAgo: number, progressMsAgo?: number): VmMigrationObject & { status: { sourceHost: string; targetHost: string } } {
  return {
    metadata: { name: "m", namespace: "ns" },
    spec: { virtualMachine: "vm", live: true },
    status: {
      phase: "Running",
      sourceHost: "a",
      targetHost: "b",
      conditions: [{ type: "Ready", status: "False", reason, message: "", lastTransitionTime: at(changedMsAgo) }],
      ...(progressMsAgo === undefined ? {} : { progress: { percent: 40, observedAt: at(progressMsAgo) } }),
    },
  };
}

describe("a VM while its move's job runs", () => {
  it("is not looked at while the VMMigration's job runs and speaks", () => {
    expect(jobRunning(move("Starting", 100), now)).toBe(true);
    expect(jobRunning(move("Migrating", 60_000, 400), now)).toBe(true);
    expect(jobRunning(move("Cancelling", 2_000), now)).toBe(true);
  });
  it("is looked at once the job ended (HandingOver, Searching) or the VMMigration went quiet for 30 s", () => {
    expect(jobRunning(move("HandingOver", 10), now)).toBe(false);
    expect(jobRunning(move("Searching", 10), now)).toBe(false);
    expect(jobRunning(move("Migrating", 31_000, 30_500), now)).toBe(false);
    expect(jobRunning(move("Starting", 45_000), now)).toBe(false);
  });
});
