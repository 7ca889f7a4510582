import { describe, expect, it } from "vitest";
import { nextPowerState, phaseOf } from "./power.ts";

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

  it("names the phase after where the VM is going", () => {
    expect(phaseOf("Running", "Running")).toBe("Running");
    expect(phaseOf("Running", "Stopped")).toBe("Starting");
    expect(phaseOf("Stopped", "Running")).toBe("Stopping");
    expect(phaseOf("Paused", "Running")).toBe("Starting");
    expect(phaseOf("Stopped", "Stopped")).toBe("Stopped");
  });
});
