// Conditions in the Kubernetes shape. A condition's lastTransitionTime moves only when its status
// flips, and an unchanged condition leaves the status byte-for-byte equal, so it causes no write.
import { redactText } from "./redact.ts";

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface WithConditions {
  conditions?: Condition[];
}

/** Condition types every Omnivisor kind carries. */
export const Ready = "Ready";
export const Synced = "Synced";

export type ConditionInput = Omit<Condition, "lastTransitionTime">;

/** Sets (or adds) one condition in place; returns true if anything in it changed. */
export function setCondition(status: WithConditions, input: ConditionInput, now: () => Date = () => new Date()): boolean {
  const conditions = (status.conditions ??= []);
  const existing = conditions.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    // Always present: the omnivisor.io CRDs (metav1.Condition's shape) require message, even empty.
    message: redactText(input.message ?? "").slice(0, 1024),
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime: existing && existing.status === input.status ? existing.lastTransitionTime : rfc3339(now()),
  };
  if (existing && sameCondition(existing, next)) return false;
  if (existing) conditions[conditions.indexOf(existing)] = next;
  else conditions.push(next);
  return true;
}

export function getCondition(status: WithConditions | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export function isTrue(status: WithConditions | undefined, type: string): boolean {
  return getCondition(status, type)?.status === "True";
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    (a.message ?? "") === (b.message ?? "") &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}

/** Second precision, as the API server stores metav1.Time (a finer time would differ on read-back). */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
