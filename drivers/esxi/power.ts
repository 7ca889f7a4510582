// The next step toward a power target, from the VM's ESX power state. Pure, so the table is unit
// tested; the session runs the step without waiting for it (a guest shutdown can take minutes).
import type { PowerTarget } from "../contract/index.ts";
import type { EsxPowerState } from "./observe.ts";

export type PowerMethod = "PowerOnVM_Task" | "PowerOffVM_Task" | "SuspendVM_Task" | "ShutdownGuest";

export type PowerStep = { kind: "none"; why: string } | { kind: "call"; method: PowerMethod } | { kind: "invalid"; why: string };

/** Default time a TrySoft stop gives the guest before pulling the plug. */
export const defaultSoftDeadlineSeconds = 60;

/** A guest shutdown the session asked for, and when TrySoft may escalate to a hard power-off. */
export interface SoftStop {
  deadlineAt: number;
}

function stepToStopped(current: EsxPowerState, target: PowerTarget, soft: SoftStop | undefined, now: number): PowerStep {
  const mode = target.mode ?? "TrySoft";
  if (current === "poweredOff") return { kind: "none", why: "already stopped" };
  if (current === "suspended") {
    // A suspended guest cannot run its own shutdown; only a hard power-off gets it to Stopped.
    if (mode === "Soft") return { kind: "invalid", why: "a suspended VM cannot shut down softly" };
    return { kind: "call", method: "PowerOffVM_Task" };
  }
  if (mode === "Hard") return { kind: "call", method: "PowerOffVM_Task" };
  if (!soft) return { kind: "call", method: "ShutdownGuest" };
  if (mode === "TrySoft" && now >= soft.deadlineAt) return { kind: "call", method: "PowerOffVM_Task" };
  return { kind: "none", why: "guest shutdown in progress" };
}

export function nextPowerStep(current: EsxPowerState, target: PowerTarget, soft: SoftStop | undefined, now: number): PowerStep {
  switch (target.state) {
    case "Running":
      return current === "poweredOn" ? { kind: "none", why: "already running" } : { kind: "call", method: "PowerOnVM_Task" };
    case "Paused":
      if (current === "suspended") return { kind: "none", why: "already suspended" };
      if (current === "poweredOff") return { kind: "invalid", why: "a stopped VM cannot be paused" };
      return { kind: "call", method: "SuspendVM_Task" };
    case "Stopped":
      return stepToStopped(current, target, soft, now);
  }
}
