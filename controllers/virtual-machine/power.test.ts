import { describe, expect, it } from "vitest";
import { nextPowerState } from "./power.ts";

describe("power steps", () => {
  it.each([
    ["Running", "Stopped", "Running"],
    ["Running", "Crashed", "Running"],
    ["Running", "Paused", "Running"],
    ["Running", "Running", undefined],
    ["Stopped", "Running", "Stopped"],
    ["Stopped", "Paused", "Stopped"],
    ["Stopped", "Crashed", undefined],
    ["Paused", "Stopped", "Running"],
    ["Paused", "Running", "Paused"],
    ["Paused", "Paused", undefined],
    ["Running", "Unknown", undefined],
  ] as const)("desired %s, observed %s: next step %s", (desired, observed, step) => {
    expect(nextPowerState(desired, observed)).toBe(step);
  });
});
