// Which VMs of a fenced host are asked to restart now: priority groups, Highest first (Disabled
// never), a group starting only once the one before it is started (or Ready, with waitFor
// Ready), and at most maxConcurrentRestarts asked and not yet running elsewhere at a time. Pure.
import { restartPriorities } from "../../src/api/ha-policy.ts";
import type { RestartPriority } from "../../src/fleet/failovers.ts";

export interface RestartCandidate {
  key: string;
  priority: RestartPriority;
  /** Its restart was asked for (the request annotation names the failed host). */
  asked: boolean;
  /** Placed elsewhere and running there. */
  started: boolean;
  /** Ready=True on its new host. */
  ready: boolean;
  /** Why it cannot run elsewhere (disks on the host's own storage). */
  notRestartable?: string;
}

export interface RestartPlan {
  /** Ask for these now. */
  ask: string[];
  /** VMs to restart (priority not Disabled, restartable). */
  total: number;
  /** Of those, started elsewhere. */
  started: number;
  notRestartable: number;
  /** The group being restarted now; undefined once every group is done. */
  group?: RestartPriority;
  complete: boolean;
}

export function planRestarts(vms: readonly RestartCandidate[], options: { maxConcurrent: number; waitFor: "Started" | "Ready" }): RestartPlan {
  const eligible = vms.filter((v) => v.priority !== "Disabled" && v.notRestartable === undefined);
  const notRestartable = vms.filter((v) => v.priority !== "Disabled" && v.notRestartable !== undefined).length;
  const started = eligible.filter((v) => v.started).length;
  let inFlight = eligible.filter((v) => v.asked && !v.started).length;
  const ask: string[] = [];
  for (const priority of restartPriorities) {
    if (priority === "Disabled") continue;
    const group = eligible.filter((v) => v.priority === priority).sort((a, b) => (a.key < b.key ? -1 : 1));
    if (group.length === 0) continue;
    const finished = group.every((v) => (options.waitFor === "Ready" ? v.started && v.ready : v.started));
    if (finished) continue;
    for (const v of group) {
      if (v.asked || v.started || inFlight >= options.maxConcurrent) continue;
      ask.push(v.key);
      inFlight++;
    }
    return { ask, total: eligible.length, started, notRestartable, group: priority, complete: false };
  }
  return { ask, total: eligible.length, started, notRestartable, complete: true };
}

/** A host is Suspect once it has been silent for missedHeartbeats renewals (the longer of the policy's and the watcher's own interval). */
export function suspectAfterMs(policy: { heartbeatIntervalSeconds?: number; missedHeartbeats?: number }, watcherIntervalMs: number): number {
  const interval = Math.max((policy.heartbeatIntervalSeconds ?? 2) * 1000, watcherIntervalMs);
  return (policy.missedHeartbeats ?? 3) * interval;
}

/**
 * Whether the group the plan names may be asked for now: a new group after an earlier one waits
 * restartOrder.delaySeconds (recorded in the failover, so a restarted manager waits the same).
 */
export function groupGate(
  record: { restartingGroup?: RestartPriority; groupStartsAt?: string },
  group: RestartPriority | undefined,
  delaySeconds: number,
  nowMs: number,
): { ask: boolean; patch: { restartingGroup?: RestartPriority; groupStartsAt?: string } } {
  if (group === undefined) return { ask: false, patch: {} };
  if (group !== record.restartingGroup) {
    const first = record.restartingGroup === undefined;
    if (first || delaySeconds <= 0) return { ask: true, patch: { restartingGroup: group } };
    return { ask: false, patch: { restartingGroup: group, groupStartsAt: new Date(nowMs + delaySeconds * 1000).toISOString() } };
  }
  const at = record.groupStartsAt ? Date.parse(record.groupStartsAt) : NaN;
  return { ask: !(at > nowMs), patch: {} };
}
