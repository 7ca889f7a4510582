// What a DRSPolicy pass does with its pools' plans: the recommendations in status (each with an id
// that stays the same while the move is still proposed), the VMMigrations to create (Automatic:
// up to maxConcurrentMigrations in flight per pool; Manual: those a user asked for by the
// omnivisor.io/drs-apply annotation), and the figures and conditions status shows. Pure.
import { createHash } from "node:crypto";
import type { DRSPolicySpec, DRSPolicyStatus } from "../../src/api/index.ts";
import type { VmMigrationObject } from "../../src/fleet/kinds.ts";
import { inFlight } from "../../src/fleet/moves.ts";
import type { DrsPlan, Recommendation } from "../../src/placement/drs/types.ts";

/** Names the DRSPolicy that asked for a VMMigration. */
export const drsPolicyLabel = "omnivisor.io/drs-policy";
/** Names the pool a DRS VMMigration balances (maxConcurrentMigrations counts per pool). */
export const drsPoolLabel = "omnivisor.io/drs-pool";
/** On a DRSPolicy: `all`, or recommendation ids separated by commas, to apply now (Manual mode; removed once done). */
export const applyAnnotation = "omnivisor.io/drs-apply";
/** Status keeps at most this many recommendations (the CRD's limit); recommendationCount counts them all. */
export const maxListed = 256;
/** A figure in status moves only when it changed by at least this much, so jittering usage writes nothing. */
export const imbalanceStep = 0.01;

export type StatusRecommendation = NonNullable<DRSPolicyStatus["recommendations"]>[number];

/** One pool's pass: its plan, or why there is none. */
export interface PoolOutcome {
  pool: string;
  plan?: DrsPlan;
  problem?: string;
}

export interface PolicyObject {
  metadata: { name: string; uid?: string; annotations?: Record<string, string> };
  spec: DRSPolicySpec;
}

export interface DecideView {
  /** A VM's uid by namespace/name (ids are made of it: a VM made anew under the same name gets new ids). */
  uidOf(vmKey: string): string | undefined;
  /** The VMMigrations this policy asked for (by its label). */
  migrations: readonly VmMigrationObject[];
  /** Keys (namespace/name) of VMs this process asked to move that the cache does not show yet. */
  requested: ReadonlySet<string>;
  now: Date;
}

export interface Decision {
  create: VmMigrationObject[];
  /** The apply annotation was read: remove it. */
  clearApply: boolean;
  events: { type: "Normal" | "Warning"; reason: string; message: string }[];
}

/** Stable while the same VM would move the same way: a short hash of its uid, source and target. */
export function recommendationId(uid: string, from: string, to: string): string {
  return createHash("sha256").update(`${uid}/${from}/${to}`).digest("hex").slice(0, 10);
}

/** `previous` while `next` is within a step of it: a figure that jitters is not rewritten. */
export function steady(previous: number | undefined, next: number): number {
  const rounded = Math.round(next * 1000) / 1000;
  return previous !== undefined && Math.abs(previous - rounded) < imbalanceStep ? previous : rounded;
}

/** The ids a user asked to apply: `all`, or a list; empty when the annotation is absent or blank. */
export function requestedIds(policy: PolicyObject): "all" | string[] {
  const value = policy.metadata.annotations?.[applyAnnotation]?.trim() ?? "";
  if (value.toLowerCase() === "all") return "all";
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const vmKeyOf = (r: Recommendation): string => `${r.vm.namespace}/${r.vm.name}`;

/** The VMMigration that carries out a recommendation. */
export function migrationFor(policy: PolicyObject, pool: string, rec: StatusRecommendation, now: Date): VmMigrationObject {
  const vm = rec.virtualMachine.name;
  // a VM may be moved again months later, the same way: the time keeps names unique
  const suffix = `${rec.id}-${Math.floor(now.getTime() / 1000).toString(36)}`;
  const name = `drs-${vm.slice(0, 253 - 5 - suffix.length).replace(/[-.]+$/, "")}-${suffix}`;
  return {
    apiVersion: "omnivisor.io/v1alpha1",
    kind: "VMMigration",
    metadata: {
      name,
      namespace: rec.virtualMachine.namespace,
      labels: { [drsPolicyLabel]: policy.metadata.name, [drsPoolLabel]: pool },
      annotations: { "omnivisor.io/drs-recommendation": rec.id, ...(rec.reason ? { "omnivisor.io/drs-reason": rec.reason } : {}) },
      ...(policy.metadata.uid ? { ownerReferences: [{ apiVersion: "omnivisor.io/v1alpha1", kind: "DRSPolicy", name: policy.metadata.name, uid: policy.metadata.uid, controller: true, blockOwnerDeletion: false }] } : {}),
    },
    spec: { virtualMachine: vm, targetHost: rec.toHost, live: true },
  };
}

/**
 * Writes the pass's figures into `status` and says what to create. `status` comes in as the
 * last one written: figures within a step of it, and recommendations still proposed, keep their
 * earlier values.
 */
export function decide(policy: PolicyObject, outcomes: readonly PoolOutcome[], status: DRSPolicyStatus, view: DecideView): Decision {
  const decision: Decision = { create: [], clearApply: policy.metadata.annotations?.[applyAnnotation] !== undefined, events: [] };
  const before = new Map((status.recommendations ?? []).map((r) => [r.id, r]));
  const asked = requestedIds(policy);
  const automatic = policy.spec.mode === "Automatic";
  const listed: StatusRecommendation[] = [];
  const applied = new Set<string>();
  let count = 0;
  for (const outcome of outcomes) {
    if (!outcome.plan) continue;
    let slots = automatic ? policy.spec.maxConcurrentMigrations - view.migrations.filter((m) => inFlight(m) && m.metadata.labels?.[drsPoolLabel] === outcome.pool).length : 0;
    // one move per VM per pass: a later recommendation for a VM already moving waits for the next plan
    const moving = new Set(view.requested);
    for (const r of outcome.plan.recommendations) {
      const rec = toStatus(r, view, before);
      if (rec === undefined) continue;
      const wanted = automatic ? slots > 0 : asked === "all" || asked.includes(rec.id);
      if (wanted && !moving.has(vmKeyOf(r))) {
        moving.add(vmKeyOf(r));
        slots--;
        applied.add(rec.id);
        const m = migrationFor(policy, outcome.pool, rec, view.now);
        decision.create.push(m);
        decision.events.push({ type: "Normal", reason: "MigrationStarted", message: `VMMigration ${m.metadata.namespace}/${m.metadata.name}: ${rec.virtualMachine.namespace}/${rec.virtualMachine.name} from ${rec.fromHost} to ${rec.toHost} (${automatic ? "Automatic" : "applied"}, recommendation ${rec.id}; ${rec.reason})` });
        continue;
      }
      count++;
      if (listed.length < maxListed) listed.push(rec);
    }
  }
  if (asked !== "all") decision.events.push(...notFound(asked, new Set([...applied, ...listed.map((r) => r.id)])));
  decision.events.push(...changed(before, listed, count));
  const planned = outcomes.flatMap((o) => (o.plan ? [o.plan] : []));
  if (planned.length > 0) {
    status.imbalance = steady(status.imbalance, Math.max(...planned.map((p) => p.imbalance)));
    status.targetImbalance = steady(status.targetImbalance, Math.min(...planned.map((p) => p.targetImbalance)));
  }
  status.recommendations = listed;
  status.recommendationCount = count;
  status.migrationsInProgress = view.migrations.filter(inFlight).length + decision.create.length;
  status.migrationsCompleted = view.migrations.filter((m) => m.status?.phase === "Succeeded").length;
  return decision;
}

/** A planned move as status lists it; figures (and the reason, which quotes them) kept while within a step of what is written. */
function toStatus(r: Recommendation, view: Pick<DecideView, "uidOf">, before: ReadonlyMap<string, StatusRecommendation>): StatusRecommendation | undefined {
  const uid = view.uidOf(vmKeyOf(r));
  if (uid === undefined) return undefined;
  const id = recommendationId(uid, r.from, r.to);
  const old = before.get(id);
  const after = steady(old?.imbalanceAfter, r.imbalanceAfter);
  const reason = old?.reason !== undefined && old.imbalanceAfter === after ? old.reason : `priority ${r.priority}: ${r.reason}`.slice(0, 1024);
  return { id, virtualMachine: { namespace: r.vm.namespace, name: r.vm.name }, fromHost: r.from, toHost: r.to, reason, imbalanceAfter: after };
}

function notFound(asked: readonly string[], known: ReadonlySet<string>): Decision["events"] {
  const unknown = asked.filter((id) => !known.has(id));
  if (unknown.length === 0) return [];
  return [{ type: "Warning", reason: "RecommendationNotFound", message: `${applyAnnotation} named ${unknown.join(", ")}, which no current recommendation has (already applied, or no longer useful); status.recommendations lists the current ones` }];
}

function changed(before: ReadonlyMap<string, StatusRecommendation>, listed: readonly StatusRecommendation[], count: number): Decision["events"] {
  const idsBefore = [...before.keys()].sort().join(",");
  const idsNow = listed.map((r) => r.id).sort().join(",");
  if (idsBefore === idsNow) return [];
  const some = listed.slice(0, 5).map((r) => `${r.virtualMachine.name} ${r.fromHost}→${r.toHost} (${r.id})`);
  return [{ type: "Normal", reason: "RecommendationsChanged", message: listed.length === 0 ? "no recommendations" : `${count} recommendation(s): ${some.join(", ")}${count > 5 ? ", …" : ""}` }];
}

/** Ready and Balanced, from the pools' outcomes and the figures just written. */
export function conditionsOf(policy: PolicyObject, outcomes: readonly PoolOutcome[], status: DRSPolicyStatus): { ready: Condition; balanced?: Condition } {
  const problems = outcomes.filter((o) => o.problem !== undefined);
  // hosts that cannot live-migrate are never a source or target: said once, here (it changes only with the hosts)
  const leftOut = outcomes.flatMap((o) => o.plan?.skipped.filter((x) => x.host !== undefined && x.vm === undefined).map((x) => `${x.host!} (${x.reason})`) ?? []);
  const hosts = leftOut.length === 0 ? "" : `; hosts left out: ${leftOut.slice(0, 5).join(", ")}${leftOut.length > 5 ? ` and ${leftOut.length - 5} more` : ""}`;
  const ready: Condition =
    problems.length === 0
      ? { status: "True", reason: "Evaluated", message: `${policy.spec.mode} at level ${policy.spec.migrationThreshold}: ${outcomes.length} pool(s) evaluated every ${policy.spec.intervalSeconds}s${hosts}` }
      : { status: "False", reason: problems.every((p) => p.problem!.startsWith("HostPool")) ? "PoolNotFound" : "NotEvaluated", message: problems.map((p) => `${p.pool}: ${p.problem}`).join("; ") };
  const planned = outcomes.filter((o) => o.plan !== undefined);
  if (planned.length === 0) return { ready };
  const over = planned.filter((o) => o.plan!.imbalance > o.plan!.targetImbalance);
  const balanced: Condition =
    over.length === 0
      ? { status: "True", reason: "Balanced", message: `imbalance ${status.imbalance} ≤ target ${status.targetImbalance}` }
      : {
          status: "False",
          reason: "Imbalanced",
          message: `${over.map((o) => o.pool).join(", ")} above the target ${status.targetImbalance} (imbalance ${status.imbalance}); ${status.recommendationCount ?? 0} recommendation(s), ${status.migrationsInProgress ?? 0} migration(s) in progress${stuck(over)}`,
        };
  return { ready, balanced };
}

/** The VMs the planner would have moved but may not, with why (the first three). */
function stuck(over: readonly PoolOutcome[]): string {
  const vms = over.flatMap((o) => o.plan!.skipped.filter((x) => x.vm !== undefined && !x.reason.startsWith("on ")).map((x) => `${x.vm!.name}: ${x.reason}`));
  return vms.length === 0 ? "" : `; held back: ${vms.slice(0, 3).join("; ")}${vms.length > 3 ? ` (and ${vms.length - 3} more)` : ""}`;
}

export interface Condition {
  status: "True" | "False";
  reason: string;
  message: string;
}
