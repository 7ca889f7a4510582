import { describe, expect, it } from "vitest";
import { phaseOf } from "./vm-phase.ts";

describe("VM phase", () => {
  it("names the phase after where the VM is going", () => {
    expect(phaseOf("Running", "Running")).toBe("Running");
    expect(phaseOf("Running", "Stopped")).toBe("Starting");
    expect(phaseOf("Stopped", "Running")).toBe("Stopping");
    expect(phaseOf("Paused", "Running")).toBe("Starting");
    expect(phaseOf("Stopped", "Stopped")).toBe("Stopped");
  });
});
