// A VM's phase and power state as status says them, from the desired and observed power: written by
// the VirtualMachine controller and by the status watcher, so both say the same thing. Pure.
import type { ObservedPower, PowerState } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../api/index.ts";

export type Phase = NonNullable<VirtualMachineStatus["phase"]>;

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
