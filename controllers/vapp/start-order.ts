// The order in which a vApp's members power on and off, and the next step of either. What has
// happened is read from status.groups (a group's power-on asked, then done) and from the members'
// VMs; the pass records each step there, so a restarted operator carries on where it was. Pure.
import type { VAppSpec, VAppStatus } from "../../src/api/index.ts";

export interface Group {
  name: string;
  members: string[];
  delaySeconds: number;
  waitFor: "Started" | "Ready";
}

export type GroupRecord = NonNullable<VAppStatus["groups"]>[number];

/** The implicit group when there is no startOrder. */
export const allGroup = "(all)";
/** The implicit last group: members named by no startOrder group. */
export const restGroup = "(rest)";

/** The start groups in order: spec.startOrder (a member counts in its first group), then the members in none. */
export function startGroups(spec: Pick<VAppSpec, "members" | "startOrder">): Group[] {
  const known = new Set(spec.members.map((m) => m.name));
  const grouped = new Set<string>();
  const groups: Group[] = [];
  for (const g of spec.startOrder ?? []) {
    const members = g.members.filter((m) => known.has(m) && !grouped.has(m));
    for (const m of members) grouped.add(m);
    groups.push({ name: g.name, members, delaySeconds: g.delaySeconds ?? 0, waitFor: g.waitFor ?? "Started" });
  }
  const rest = spec.members.map((m) => m.name).filter((m) => !grouped.has(m));
  if (groups.length === 0) return [{ name: allGroup, members: rest, delaySeconds: 0, waitFor: "Started" }];
  if (rest.length > 0) groups.push({ name: restGroup, members: rest, delaySeconds: 0, waitFor: "Started" });
  return groups;
}

/** What a member's VM says, as the sequence needs it. */
export interface MemberState {
  /** Its own spec.powerState is not Stopped: it is waited for when its group starts. */
  wantsRunning: boolean;
  /** Running (or Paused, when its spec asks for Paused). */
  started: boolean;
  ready: boolean;
  /** Off, or no VM at all. */
  stopped: boolean;
}

export type StartStep =
  | { kind: "power-on"; group: Group }
  | { kind: "started"; group: Group }
  | { kind: "wait-delay"; group: Group; after: string; untilMs: number }
  | { kind: "wait-members"; group: Group; pending: string[] }
  | { kind: "running" };

export type StopStep = { kind: "power-off"; group: Group } | { kind: "stopped"; group: Group } | { kind: "wait-stopped"; group: Group; pending: string[] } | { kind: "all-stopped" };

const recordOf = (records: readonly GroupRecord[], name: string): GroupRecord | undefined => records.find((r) => r.name === name);

/** The next step toward every group started, in order, each after the previous one's delay. */
export function nextStart(groups: readonly Group[], records: readonly GroupRecord[], member: (name: string) => MemberState, nowMs: number): StartStep {
  let previous: { name: string; startedAtMs: number } | undefined;
  for (const group of groups) {
    const record = recordOf(records, group.name);
    if (!record?.poweredOnAt) {
      const untilMs = previous ? previous.startedAtMs + group.delaySeconds * 1000 : nowMs;
      if (previous && nowMs < untilMs) return { kind: "wait-delay", group, after: previous.name, untilMs };
      return { kind: "power-on", group };
    }
    if (!record.startedAt) {
      const done = (s: MemberState): boolean => !s.wantsRunning || (s.started && (group.waitFor === "Started" || s.ready));
      const pending = group.members.filter((m) => !done(member(m)));
      return pending.length > 0 ? { kind: "wait-members", group, pending } : { kind: "started", group };
    }
    previous = { name: group.name, startedAtMs: Date.parse(record.startedAt) };
  }
  return { kind: "running" };
}

/**
 * The next step toward every member off, last group first. A group being stopped keeps a record
 * without poweredOnAt until its members are off; then its record goes.
 */
export function nextStop(groups: readonly Group[], records: readonly GroupRecord[], member: (name: string) => MemberState): StopStep {
  for (const group of [...groups].reverse()) {
    const record = recordOf(records, group.name);
    if (!record) continue;
    if (record.poweredOnAt) return { kind: "power-off", group };
    const pending = group.members.filter((m) => !member(m).stopped);
    return pending.length > 0 ? { kind: "wait-stopped", group, pending } : { kind: "stopped", group };
  }
  // records of groups no longer in the spec are dropped by the caller
  return { kind: "all-stopped" };
}

/** Whether a member's VM should run now: its group's power-on was asked (and not taken back by a stop). */
export function groupPoweredOn(groups: readonly Group[], records: readonly GroupRecord[], memberName: string): boolean {
  const group = groups.find((g) => g.members.includes(memberName));
  return group !== undefined && recordOf(records, group.name)?.poweredOnAt !== undefined;
}
