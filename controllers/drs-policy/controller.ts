// The DRSPolicy controller: every spec.intervalSeconds, and soon after a pool's hosts, VMs or moves
// change, plans each pool (src/placement/drs/plan.ts) from the caches and live usage (input.ts),
// then publishes the recommendations (Manual) or asks for the moves (Automatic) as VMMigrations —
// the only way a VM moves (decide.ts). A status is written only when something in it changed.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Counter, Gauge } from "prom-client";
import type { DRSPolicyStatus } from "../../src/api/index.ts";
import { datacentersType, drsPoliciesType, hostPoolsType, hostsType, virtualMachinesType, vmMigrationsType, type DatacenterObject, type HostObject, type HostPoolObject, type VmMigrationObject, type VmObject } from "../../src/fleet/kinds.ts";
import type { SharedLiveUsage } from "../../src/fleet/live-usage.ts";
import { isReady, poolMembers } from "../../src/fleet/membership.ts";
import { MovesByVm, inFlight } from "../../src/fleet/moves.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { Reservations, VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { planBalance } from "../../src/placement/drs/plan.ts";
import type { MigrationThreshold } from "../../src/placement/drs/types.ts";
import { Ready } from "../../src/runtime/conditions.ts";
import { Controller, type ReconcileContext } from "../../src/runtime/controller.ts";
import { Coalescer, summaryIntervalMs } from "../../src/runtime/coalesce.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import { describeError } from "../../src/runtime/log.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";
import { sameJson } from "../../src/runtime/status.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { ControllerWithCaches, clusterScoped, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { applyAnnotation, conditionsOf, decide, drsPolicyLabel, drsPoolLabel, maxListed, type PolicyObject, type PoolOutcome } from "./decide.ts";
import { poolInput } from "./input.ts";
import { staticMigrationRefusal } from "./migratable.ts";

export interface DrsPolicyControllerOptions {
  sessions: HostSessions;
  /** The Host controller's record of live usage (per-VM demand where drivers report it). */
  liveUsage: SharedLiveUsage;
}

type DrsPolicyObject = KubeObject & PolicyObject & { status?: DRSPolicyStatus };
type Ctx = ReconcileContext<DrsPolicyObject, DRSPolicyStatus>;

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
/** A VM this process asked to move counts as moving this long at most while the cache does not show its VMMigration. */
const requestedForMs = 60_000;

/** The policy as if it carried no apply annotation. */
function withoutApply(policy: DrsPolicyObject): DrsPolicyObject {
  const annotations = { ...policy.metadata.annotations };
  delete annotations[applyAnnotation];
  return { ...policy, metadata: { ...policy.metadata, annotations } };
}

/** The policy's Event for one of its moves that ended. */
function moveEnded(m: VmMigrationObject): { type: "Normal" | "Warning"; reason: string; message: string } {
  const phase = m.status?.phase ?? "Failed";
  const why = phase !== "Succeeded" ? m.status?.conditions?.find((c) => c.type === "Ready")?.message : undefined;
  const message = `VMMigration ${m.metadata.namespace}/${m.metadata.name} (${m.spec.virtualMachine} ${m.status?.sourceHost ?? "?"} → ${m.status?.targetHost ?? m.spec.targetHost ?? "?"}) ${phase}${why ? `: ${why}` : ""}`;
  return phase === "Succeeded" ? { type: "Normal", reason: "MigrationSucceeded", message } : { type: "Warning", reason: `Migration${phase}`, message };
}

export function drsPolicyController(options: DrsPolicyControllerOptions): ControllerRegistration {
  return {
    name: "drspolicy",
    create(deps) {
      options.sessions.attach(deps.kc, deps.metrics.registry);
      const log = deps.log.with({ controller: "drspolicy" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const datacenters = readOnlyCache<DatacenterObject>({ ...deps, log }, datacentersType);
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      const migrations = readOnlyCache<VmMigrationObject>({ ...deps, log }, vmMigrationsType, deps.namespace);
      const placed = new VmsByHost().follow(vms);
      const moves = new MovesByVm();
      moves.follow(migrations);
      const live = options.liveUsage.of(deps.metrics);
      const objects = deps.kc.makeApiClient(CustomObjectsApi);
      /** VM key → when this process asked to move it (until the cache shows the VMMigration). */
      const requested = new Map<string, { name: string; at: number }>();
      /** Policy → the resourceVersion whose apply annotation this process acted on. */
      const handled = new Map<string, string | undefined>();

      const registers = [deps.metrics.registry];
      const imbalance = new Gauge({ name: "omnivisor_drs_policy_imbalance", help: "A DRSPolicy's figure for each of its pools: the standard deviation of host load (the demand of the VMs on a host ÷ its capacity, CPU and memory; ADR 0046), as its last pass computed it.", labelNames: ["policy", "pool"], registers });
      const target = new Gauge({ name: "omnivisor_drs_policy_target_imbalance", help: "The imbalance a DRSPolicy's migration threshold tolerates, per pool.", labelNames: ["policy", "pool"], registers });
      const pending = new Gauge({ name: "omnivisor_drs_policy_recommendations", help: "Moves a DRSPolicy recommends and has not started, per pool.", labelNames: ["policy", "pool"], registers });
      const evaluated = new Gauge({ name: "omnivisor_drs_policy_last_evaluation_timestamp_seconds", help: "When a DRSPolicy last evaluated its pools (every pass; status.lastEvaluatedAt moves only when status changes).", labelNames: ["policy"], registers });
      const moved = new Counter({ name: "omnivisor_drs_migrations_total", help: "VMMigrations a DRSPolicy asked for, by how they went: started, Succeeded, Failed, Cancelled.", labelNames: ["policy", "result"], registers });
      const series = new Map<string, Set<string>>();
      const forgetSeries = (policy: string, keep: ReadonlySet<string>): void => {
        for (const pool of series.get(policy) ?? []) {
          if (keep.has(pool)) continue;
          for (const g of [imbalance, target, pending]) g.remove({ policy, pool });
        }
        if (keep.size === 0) {
          series.delete(policy);
          evaluated.remove({ policy });
        } else series.set(policy, new Set(keep));
      };

      const fleet = () => ({ hosts: hosts.list(), pools: pools.list(), datacenters: datacenters.list(), placed, reservations: new Reservations(), vm: (key: string) => vms.get(key) });

      /** Why each ready member host cannot live-migrate: its driver's capabilities, from the shared session. */
      const refusals = async (members: readonly HostObject[], signal: AbortSignal): Promise<Map<string, string | undefined>> => {
        const out = new Map<string, string | undefined>();
        await Promise.all(
          members.map(async (host) => {
            const fixed = staticMigrationRefusal(host);
            if (fixed !== undefined || !isReady(host)) return void out.set(host.metadata.name, fixed);
            try {
              const session = await options.sessions.session(host, AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
              out.set(host.metadata.name, session.capabilities().liveMigration ? undefined : `its ${host.spec.driver} connection cannot live-migrate (driver capabilities)`);
            } catch (err) {
              out.set(host.metadata.name, `not connected: ${describeError(err)}`);
            }
          }),
        );
        return out;
      };

      const reconcile = async (ctx: Ctx): Promise<{ requeueAfterMs: number }> => {
        const policy = ctx.object;
        const name = policy.metadata.name;
        const every = policy.spec.intervalSeconds * 1000;
        if (policy.metadata.deletionTimestamp) return { requeueAfterMs: every };
        const now = new Date();
        for (const [key, r] of requested) if (now.getTime() - r.at > requestedForMs) requested.delete(key);
        // what status said, but for lastEvaluatedAt (compared by value: the server's key order is not ours)
        const figures = (): unknown => structuredClone({ ...ctx.status, lastEvaluatedAt: undefined });
        const before = figures();
        const outcomes: PoolOutcome[] = [];
        const f = fleet();
        for (const poolName of policy.spec.pools) {
          const pool = pools.get(poolName);
          if (!pool) {
            outcomes.push({ pool: poolName, problem: `HostPool ${poolName} not found` });
            continue;
          }
          const members = poolMembers(pool, f.hosts);
          const cannot = await refusals(members, ctx.signal);
          try {
            const input = poolInput({
              fleet: f,
              pool,
              cannotMigrate: (h) => cannot.get(h.metadata.name) ?? staticMigrationRefusal(h),
              migrationsOf: (key) => moves.of(key),
              demandOf: (uid) => live.ofVm(uid),
              threshold: policy.spec.migrationThreshold as MigrationThreshold,
              // what status can list, plus what Automatic may start now
              maxMoves: maxListed + policy.spec.maxConcurrentMigrations,
              now: now.getTime(),
            });
            outcomes.push({ pool: poolName, plan: planBalance(input) });
          } catch (err) {
            outcomes.push({ pool: poolName, problem: `could not plan: ${describeError(err)}` });
          }
        }
        const mine = migrations.list().filter((m) => m.metadata.labels?.[drsPolicyLabel] === name);
        // an apply annotation this process already acted on (the cache may not show its removal yet) is not read twice
        const fresh = handled.get(name) === policy.metadata.resourceVersion ? withoutApply(policy) : policy;
        const decision = decide(fresh, outcomes, ctx.status, { uidOf: (key) => vms.get(key)?.metadata.uid, migrations: mine, requested: new Set(requested.keys()), now });
        for (const m of decision.create) {
          const key = `${m.metadata.namespace ?? ""}/${m.spec.virtualMachine}`;
          try {
            await objects.createNamespacedCustomObject({ group: "omnivisor.io", version: "v1alpha1", plural: "vmmigrations", namespace: m.metadata.namespace ?? "", body: m, fieldManager: "omnivisor" });
            requested.set(key, { name: m.metadata.name, at: now.getTime() });
            moved.inc({ policy: name, result: "started" });
          } catch (err) {
            ctx.event("Warning", "MigrationNotCreated", `VMMigration ${m.metadata.namespace}/${m.metadata.name}: ${describeError(err)}`);
            decision.events = decision.events.filter((e) => !e.message.startsWith(`VMMigration ${m.metadata.namespace}/${m.metadata.name}:`));
            ctx.status.migrationsInProgress = Math.max(0, (ctx.status.migrationsInProgress ?? 1) - 1);
          }
        }
        for (const e of decision.events) ctx.event(e.type, e.reason, e.message);
        if (decision.clearApply) {
          handled.set(name, policy.metadata.resourceVersion);
          await objects.patchClusterCustomObject({ group: "omnivisor.io", version: "v1alpha1", plural: "drspolicies", name, body: { metadata: { annotations: { [applyAnnotation]: null } } }, fieldManager: "omnivisor-drs" }, mergePatch);
        }
        const { ready, balanced } = conditionsOf(policy, outcomes, ctx.status);
        ctx.setCondition({ type: Ready, ...ready });
        if (balanced) ctx.setCondition({ type: "Balanced", ...balanced });
        if (!sameJson(figures(), before)) ctx.status.lastEvaluatedAt = now.toISOString();
        const keep = new Set<string>();
        for (const o of outcomes) {
          if (!o.plan) continue;
          keep.add(o.pool);
          imbalance.set({ policy: name, pool: o.pool }, o.plan.imbalance);
          target.set({ policy: name, pool: o.pool }, o.plan.targetImbalance);
          pending.set({ policy: name, pool: o.pool }, o.plan.recommendations.length - decision.create.filter((m) => m.metadata.labels?.[drsPoolLabel] === o.pool).length);
        }
        forgetSeries(name, keep);
        evaluated.set({ policy: name }, now.getTime() / 1000);
        return { requeueAfterMs: every };
      };

      const controller = new Controller<DrsPolicyObject, DRSPolicyStatus>(
        { name: "drspolicy", resource: drsPoliciesType, backoff: { baseMs: 1_000, capMs: 60_000 }, reconciler: { reconcile }, readiness: stalledWhen(["PoolNotFound"]) },
        clusterScoped(deps),
      );
      // a pool's hosts, VMs or moves changed: every policy looks again soon (policies are few; a burst is one pass)
      const coalesced = new Coalescer(controller.queue, summaryIntervalMs);
      const all = (): void => controller.informer.keys().forEach((k) => coalesced.add(k));
      for (const cache of [hosts, pools, vms] as Informer<KubeObject>[]) cache.on({ added: all, updated: all, deleted: all });
      controller.informer.on({ deleted: (p) => {
        handled.delete(p.metadata.name);
        coalesced.forget(p.metadata.name);
        forgetSeries(p.metadata.name, new Set());
      } });
      migrations.on({
        added: (m) => {
          const key = `${m.metadata.namespace ?? ""}/${m.spec.virtualMachine}`;
          if (requested.get(key)?.name === m.metadata.name) requested.delete(key);
          all();
        },
        updated: (old, m) => {
          const policy = m.metadata.labels?.[drsPolicyLabel];
          if (policy !== undefined && inFlight(old) && !inFlight(m)) {
            const end = moveEnded(m);
            moved.inc({ policy, result: m.status?.phase ?? "Failed" });
            const owner = controller.informer.get(policy);
            if (owner) void deps.events.record(owner, end.type, end.reason, end.message);
          }
          if (inFlight(old) !== inFlight(m)) all();
        },
        deleted: all,
      });
      return new ControllerWithCaches(controller, [hosts, pools, datacenters, vms, migrations] as Informer<KubeObject>[]);
    },
  };
}
