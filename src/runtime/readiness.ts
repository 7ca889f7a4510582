// Ready, Reconciling and Stalled as kstatus (sigs.k8s.io/cli-utils: what Flux, kpt and `kubectl
// wait` tooling use to decide whether a deployment succeeded) reads them. Every kind always carries
// Ready (False with a reason until it is); Reconciling=True while the controller still works
// towards Ready, Stalled=True when it cannot get there without a change in the world or the spec.
// Both are "abnormal-true": present only while True, so a Ready object carries neither. Derived
// from Ready once per pass, so an unchanged Ready causes no write.
import { Ready, getCondition, setCondition, type Condition, type WithConditions } from "./conditions.ts";

export const Reconciling = "Reconciling";
export const Stalled = "Stalled";

export interface ReadinessRules {
  /** Whether a Ready=False means "stuck until something changes" (Stalled), not "working on it" (Reconciling). */
  stalled?: (ready: Condition, status: WithConditions) => boolean;
}

/** Stalled when Ready=False has one of these reasons. */
export function stalledWhen(reasons: Iterable<string>): ReadinessRules {
  const set = new Set(reasons);
  return { stalled: (ready) => set.has(ready.reason) };
}

export interface PassOutcome {
  generation: number | undefined;
  /** The pass failed: retried with backoff (Reconciling) or terminal (Stalled). */
  failure?: { terminal: boolean; message: string };
}

/** Sets Ready (if the pass left none), Reconciling and Stalled in place, from Ready and the pass's outcome. */
export function settleReadiness(status: WithConditions, rules: ReadinessRules, outcome: PassOutcome, now?: () => Date): void {
  const observedGeneration = outcome.generation;
  const set = (c: Omit<Condition, "lastTransitionTime" | "observedGeneration">): void => void setCondition(status, { ...c, observedGeneration }, now);
  if (!getCondition(status, Ready)) {
    set(
      outcome.failure
        ? { type: Ready, status: "False", reason: "ReconcileError", message: outcome.failure.message }
        : { type: Ready, status: "False", reason: "Reconciling", message: "not reconciled yet" },
    );
  }
  const ready = getCondition(status, Ready)!;
  if (outcome.failure?.terminal) {
    set({ type: Stalled, status: "True", reason: "ReconcileError", message: outcome.failure.message });
    removeCondition(status, Reconciling);
  } else if (ready.status !== "True" && rules.stalled?.(ready, status)) {
    // stuck, whether or not the pass also failed (an unreachable host is retried with backoff)
    set({ type: Stalled, status: "True", reason: ready.reason, message: ready.message ?? "" });
    removeCondition(status, Reconciling);
  } else if (outcome.failure) {
    set({ type: Reconciling, status: "True", reason: "ReconcileError", message: `retrying: ${outcome.failure.message}` });
    removeCondition(status, Stalled);
  } else if (ready.status === "True") {
    removeCondition(status, Reconciling);
    removeCondition(status, Stalled);
  } else {
    set({ type: Reconciling, status: "True", reason: ready.reason, message: ready.message ?? "" });
    removeCondition(status, Stalled);
  }
}

/** Drops a condition; returns true if it was there. */
export function removeCondition(status: WithConditions, type: string): boolean {
  const i = status.conditions?.findIndex((c) => c.type === type) ?? -1;
  if (i < 0) return false;
  status.conditions!.splice(i, 1);
  return true;
}
