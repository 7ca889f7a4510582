// When a member has failed to provision or to start, judged from its VirtualMachine's status (the
// VirtualMachine controller's own words) with a bounded wait, so a passing hiccup — a Host not
// Ready yet, a retried create — is not a failure (ADR 0022). Pure.
import type { VmObject } from "../../src/fleet/kinds.ts";

export interface MemberFailure {
  reason: "Unschedulable" | "ProvisioningFailed" | "StartFailed" | "ProvisioningTimedOut" | "StartTimedOut";
  message: string;
}

export interface FailureTiming {
  /** How long a failure the VM reports must last before the member counts as failed. */
  graceMs: number;
  /** A member not on its hypervisor this long after its VM was made has failed. */
  provisionTimeoutMs: number;
  /** A member not started this long after its group's power-on has failed. */
  startTimeoutMs: number;
}

export const defaultTiming: FailureTiming = { graceMs: 30_000, provisionTimeoutMs: 600_000, startTimeoutMs: 300_000 };

export type Verdict = { failed: MemberFailure } | { recheckAfterMs: number } | undefined;

type Condition = NonNullable<NonNullable<VmObject["status"]>["conditions"]>[number];

const conditionOf = (vm: VmObject, type: string): Condition | undefined => vm.status?.conditions?.find((c) => c.type === type);

/** On its hypervisor: the VirtualMachine controller created (or found) it there. */
export const provisioned = (vm: VmObject | undefined): boolean => vm !== undefined && conditionOf(vm, "Created")?.status === "True";

function startedAsAsked(vm: VmObject, waitFor: Starting["waitFor"]): boolean {
  const on = vm.status?.powerState === "Running" || vm.status?.powerState === "Paused";
  return on && (waitFor === "Started" || conditionOf(vm, "Ready")?.status === "True");
}

/** What the VM reports that would fail the member, and since when (a crash loop counts only while starting). */
function reported(vm: VmObject, starting: boolean): { failure: MemberFailure; sinceMs: number } | undefined {
  const scheduled = conditionOf(vm, "Scheduled");
  const ready = conditionOf(vm, "Ready");
  if (provisioned(vm)) {
    if (starting && ready?.status === "False" && ready.reason === "CrashLoopBackOff") {
      return { failure: { reason: "StartFailed", message: ready.message }, sinceMs: Date.parse(ready.lastTransitionTime) };
    }
    return undefined;
  }
  if (scheduled?.status === "False") {
    return { failure: { reason: "Unschedulable", message: `cannot be placed: ${scheduled.message || scheduled.reason}` }, sinceMs: Date.parse(scheduled.lastTransitionTime) };
  }
  if (ready?.status === "False" && (ready.reason === "ProvisioningFailed" || vm.status?.phase === "Failed")) {
    return { failure: { reason: "ProvisioningFailed", message: ready.message || "provisioning failed" }, sinceMs: Date.parse(ready.lastTransitionTime) };
  }
  return undefined;
}

/** A member its group waits for: since when its power-on was asked, and whether it must be Ready or only started. */
export interface Starting {
  sinceMs: number;
  waitFor: "Started" | "Ready";
}

/**
 * Whether the member whose VM this is has failed. `starting`: while its group waits for it
 * (undefined otherwise: a member that stops later, long after its start, is the VirtualMachine
 * controller's business, not a failed deployment). Undefined: nothing wrong; recheckAfterMs:
 * something is wrong and becomes a failure then unless it clears.
 */
export function memberVerdict(vm: VmObject, starting: Starting | undefined, nowMs: number, timing: FailureTiming): Verdict {
  const waits: number[] = [];
  const bad = reported(vm, starting !== undefined);
  if (bad) {
    const left = bad.sinceMs + timing.graceMs - nowMs;
    if (left <= 0 || Number.isNaN(left)) return { failed: { reason: bad.failure.reason, message: `${bad.failure.message} (for ${Math.round((nowMs - bad.sinceMs) / 1000)} s)` } };
    waits.push(left);
  }
  if (!provisioned(vm)) {
    const made = Date.parse(vm.metadata.creationTimestamp ?? "");
    const left = made + timing.provisionTimeoutMs - nowMs;
    if (left <= 0) return { failed: { reason: "ProvisioningTimedOut", message: `not on a hypervisor ${timing.provisionTimeoutMs / 1000} s after its VirtualMachine was made (phase ${vm.status?.phase ?? "none"})` } };
    if (!Number.isNaN(left)) waits.push(left);
  } else if (starting && !startedAsAsked(vm, starting.waitFor)) {
    const left = starting.sinceMs + timing.startTimeoutMs - nowMs;
    const what = starting.waitFor === "Ready" ? "Ready" : "started";
    if (left <= 0) return { failed: { reason: "StartTimedOut", message: `not ${what} ${timing.startTimeoutMs / 1000} s after its power-on was asked (power ${vm.status?.powerState ?? "unknown"}, Ready: ${conditionOf(vm, "Ready")?.message ?? "unknown"})` } };
    waits.push(left);
  }
  return waits.length > 0 ? { recheckAfterMs: Math.min(...waits) } : undefined;
}
