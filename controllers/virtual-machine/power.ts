// The one power step that brings an observed VM closer to its desired state. Pure. (The phase that
// describes where a VM is lives in src/fleet/vm-phase.ts: the status watcher writes it too.)
import type { ObservedPower, PowerState } from "../../drivers/contract/index.ts";

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

/** What a power step is called in an Event. */
export function stepReason(from: ObservedPower, to: PowerState): string {
  if (to === "Running") return from === "Paused" ? "Resuming" : "Starting";
  return to === "Stopped" ? "Stopping" : "Pausing";
}
