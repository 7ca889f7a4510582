// The one power step that brings an observed VM closer to its desired state, and the phase and
// Ready condition that describe where it is. Pure.
import type { ObservedPower, PowerState } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../../src/api/index.ts";

export type Phase = NonNullable<VirtualMachineStatus["phase"]>;

/** The state to ask the driver for next; undefined when nothing is to be done (or cannot be, yet). */
export function nextPowerState(desired: PowerState, observed: ObservedPower): PowerState | undefined {
  if (observed === "Unknown") return undefined;
  const off = observed === "Stopped" || observed === "Crashed";
  switch (desired) {
    case "Running":
      return observed === "Running" ? undefined : "Running";
    case "Stopped":
      return off ? undefined : "Stopped";
    case "Paused":
      // Paused is reached only from Running: start first, pause on the next pass.
      return observed === "Paused" ? undefined : off ? "Running" : "Paused";
  }
}

export function phaseOf(desired: PowerState, observed: ObservedPower): Phase {
  if (observed === "Unknown") return "Unknown";
  if (desired === observed) return observed;
  if (desired === "Stopped") return "Stopping";
  if (desired === "Running" && observed === "Paused") return "Paused";
  return "Starting";
}

/** Observed power as the status enum has it (Crashed is off). */
export function statusPower(observed: ObservedPower): NonNullable<VirtualMachineStatus["powerState"]> {
  return observed === "Crashed" ? "Stopped" : observed;
}

/** What a power step is called in an Event. */
export function stepReason(from: ObservedPower, to: PowerState): string {
  if (to === "Running") return from === "Paused" ? "Resuming" : "Starting";
  return to === "Stopped" ? "Stopping" : "Pausing";
}
