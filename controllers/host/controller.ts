// The Host controller: connects through the Host's driver with its Secret's credentials and
// reports what the hypervisor says (capacity, version, VMs, unmanaged VMs) and what placement has
// handed out (allocated) in status; live usage — the host's, and each managed VM's own where the
// driver reports it (observeVmUsage, ADR 0044) — goes to metrics and memory
// (src/fleet/live-usage.ts, ADR 0037), so an idle host's status does not change. A Host that
// cannot be reached is Reachable=False with the reason, and retried with backoff; it recovers on
// its own once fixed.
import { CustomObjectsApi } from "@kubernetes/client-node";
import type { HostObservation, VmObservation, VmUsageSample } from "../../drivers/contract/index.ts";
import { statusCode } from "../../src/runtime/log.ts";
import type { HostStatus } from "../../src/api/index.ts";
import { Ready } from "../../src/runtime/conditions.ts";
import { Coalescer, summaryIntervalMs } from "../../src/runtime/coalesce.ts";
import { Controller, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import { isBeingDeleted } from "../../src/runtime/finalizers.ts";
import { ResourceClient, type KubeObject } from "../../src/runtime/resource.ts";
import { placedOnAnnotation } from "../../src/fleet/vm-markers.ts";
import { observedHostStatus } from "./host-status.ts";
import { demandsOf, LiveUsage, type SharedLiveUsage } from "../../src/fleet/live-usage.ts";
import { poolMembers } from "../../src/fleet/membership.ts";
import { hostPoolsType, hostsType, virtualMachinesType, vmMigrationsType, type HostObject, type HostPoolObject, type VmMigrationObject, type VmObject } from "../../src/fleet/kinds.ts";
import { MovesByVm } from "../../src/fleet/moves.ts";
import { drainHostLabel, planDrain, withdrawDrain } from "./drain.ts";
import { unreachable } from "../../src/fleet/reachability.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { failoverOf, haPoliciesType, type Failover, type HAPolicyObject } from "../../src/fleet/failovers.ts";
import { showFailover } from "./failed-host.ts";
import { ControllerWithCaches, clusterScoped, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";

export const Reachable = "Reachable";
export const Maintenance = "Maintenance";
/** A deleted Host waits for its VirtualMachines to go (or move) before it is removed. */
export const hostFinalizer = "omnivisor.io/host";
export const Deleting = "Deleting";

export interface HostControllerOptions {
  sessions: HostSessions;
  /** How often a reachable host is observed again (usage, VMs appearing outside the operator). */
  pollIntervalMs?: number;
  /** Where hosts' and VMs' live usage goes: the manager shares it with the DRSPolicy controller (default: this controller's own). */
  liveUsage?: SharedLiveUsage;
}

type Ctx = ReconcileContext<HostObject, HostStatus>;

export function hostController(options: HostControllerOptions): ControllerRegistration {
  const poll = options.pollIntervalMs ?? 15_000;
  return {
    name: "host",
    create(deps) {
      options.sessions.attach(deps.kc, deps.metrics.registry);
      const vms = readOnlyCache<VmObject>({ ...deps, log: deps.log.with({ controller: "host" }) }, virtualMachinesType, deps.namespace);
      const index = new VmsByHost().follow(vms);
      const placedOn = (name: string): VmObject[] => index.on(name);
      const observations = new Observations(poll);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log: deps.log.with({ controller: "host" }) }, hostPoolsType);
      const live = options.liveUsage?.of(deps.metrics) ?? new LiveUsage(deps.metrics);
      const usage: UsageSink = {
        record: (host, observed) => live.record(host, pools.list().find((p) => poolMembers(p, [host]).length > 0)?.metadata.name ?? "", observed),
        recordVms: (name, samples) => (samples === undefined ? live.noVmUsage(name) : live.recordVms(name, demandsOf(samples))),
        forget: (name) => live.forget(name),
      };
      const vmClient = new ResourceClient<VmObject>(deps.kc, virtualMachinesType);
      const migrations = readOnlyCache<VmMigrationObject>({ ...deps, log: deps.log.with({ controller: "host" }) }, vmMigrationsType, deps.namespace);
      const moves = new MovesByVm();
      moves.follow(migrations);
      const haPolicies = readOnlyCache<HAPolicyObject>({ ...deps, log: deps.log.with({ controller: "host" }) }, haPoliciesType);
      const failover = (host: string): Failover | undefined => failoverOf(haPolicies.list(), host)?.failover;
      const objects = deps.kc.makeApiClient(CustomObjectsApi);
      const where = (m: VmMigrationObject) => ({ group: "omnivisor.io", version: "v1alpha1", plural: "vmmigrations", namespace: m.metadata.namespace ?? "" });
      const draining: Draining = {
        moves,
        ofHost: (host) => migrations.list().filter((m) => m.metadata.labels?.[drainHostLabel] === host),
        create: async (m) => {
          try {
            await objects.createNamespacedCustomObject({ ...where(m), body: m, fieldManager: "omnivisor" });
          } catch (err) {
            if (statusCode(err) !== 409) throw err; // made by an earlier pass
          }
        },
        remove: async (m) => {
          try {
            await objects.deleteNamespacedCustomObject({ ...where(m), name: m.metadata.name });
          } catch (err) {
            if (statusCode(err) !== 404) throw err;
          }
        },
      };
      const controller = new Controller<HostObject, HostStatus>(
        {
          name: "host",
          resource: hostsType,
          // Unreachable hosts are retried from 1 s up to every 30 s, never given up on.
          backoff: { baseMs: 1000, capMs: 30_000 },
          // an unreachable or failed host waits for the world to change (kstatus Stalled)
          readiness: stalledWhen(["Unreachable", "HostFailed"]),
          reconciler: {
            reconcile: async (ctx) => {
              if (isBeingDeleted(ctx.object)) return removeHost(ctx, options.sessions, vmClient, vms);
              await ctx.ensureFinalizer(hostFinalizer);
              return reconcileHost(ctx, { sessions: options.sessions, placedOn, exists: (uid) => index.hasUid(uid), observations, poll, draining, failover, usage });
            },
          },
        },
        clusterScoped(deps),
      );
      // allocated follows the VMs placed on a host, so their changes re-reconcile it, coalesced:
      // while VMs land on it, one pass (and status write) per interval, not one per VM.
      const coalesced = new Coalescer(controller.queue, summaryIntervalMs);
      const touch = (...objs: (VmObject | undefined)[]): void => {
        for (const vm of objs) if (vm?.status?.host) coalesced.add(vm.status.host);
      };
      vms.on({ added: (vm) => touch(vm), updated: (old, vm) => touch(old, vm), deleted: (vm) => touch(vm) });
      // a drain's moves wake their host (one started, failed, finished)
      const drainOf = (m: VmMigrationObject): void => {
        const host = m.metadata.labels?.[drainHostLabel];
        if (host) coalesced.add(host);
      };
      migrations.on({ added: drainOf, updated: (_old, m) => drainOf(m), deleted: drainOf });
      // a failover's record changing shows on its host at once
      const failedHosts = (...ps: HAPolicyObject[]): void => {
        for (const p of ps) for (const f of p.status?.failoversInProgress ?? []) controller.queue.add(f.host);
      };
      haPolicies.on({ added: (p) => failedHosts(p), updated: (a, b) => failedHosts(a, b), deleted: (p) => failedHosts(p) });
      controller.informer.on({
        deleted: (host) => {
          observations.forget(host.metadata.name);
          live.forget(host.metadata.name);
          coalesced.forget(host.metadata.name);
          void options.sessions.drop(host.metadata.name);
        },
      });
      // Leadership lost: every driver connection of this process closes at once (calls in flight
      // fail) and no pass still running can open another; a new leader takes over the hosts.
      const stopDriverCalls = (): void => void options.sessions.shutdown("this manager lost its leader Lease");
      return new ControllerWithCaches(controller, [vms, migrations, haPolicies, pools] as Informer<KubeObject>[], () => options.sessions.closeAll(), stopDriverCalls);
    },
  };
}

type Observed = { host: HostObservation; vms: VmObservation[] };

/**
 * The last hypervisor observation per host. A pass caused by a VM change (allocated moved) reuses
 * it while it is younger than the poll interval and the Host's spec is unchanged: during a burst
 * of 10,000 VM status writes, re-listing every domain of a host on each one cost more than all
 * the creates.
 */
class Observations {
  private readonly last = new Map<string, { generation: number | undefined; at: number; observed: Observed }>();
  private readonly maxAgeMs: number;

  constructor(maxAgeMs: number) {
    this.maxAgeMs = maxAgeMs;
  }

  fresh(host: HostObject): Observed | undefined {
    const entry = this.last.get(host.metadata.name);
    if (!entry || entry.generation !== host.metadata.generation || Date.now() - entry.at >= this.maxAgeMs - 1_000) return undefined;
    return entry.observed;
  }

  /** When the host's observation goes stale: the next pass must come by then. */
  staleInMs(name: string): number {
    const entry = this.last.get(name);
    return entry ? Math.max(1_000, entry.at + this.maxAgeMs - Date.now()) : this.maxAgeMs;
  }

  record(host: HostObject, observed: Observed): void {
    this.last.set(host.metadata.name, { generation: host.metadata.generation, at: Date.now(), observed });
  }

  forget(name: string): void {
    this.last.delete(name);
  }
}

interface HostPassEnv {
  sessions: HostSessions;
  placedOn: (host: string) => VmObject[];
  /** Whether a VirtualMachine with this uid exists (orphans carry a uid nobody has). */
  exists: (uid: string) => boolean;
  observations: Observations;
  poll: number;
  draining: Draining;
  /** The host's HA failover, if one is recorded. */
  failover: (host: string) => Failover | undefined;
  usage: UsageSink;
}

/** Where each fresh observation's live usage goes (metrics and memory, not status). */
interface UsageSink {
  record(host: HostObject, observed: HostObservation): void;
  /** The host's managed VMs' own usage; undefined when its driver reports none (they count by allocation). */
  recordVms(host: string, samples: readonly VmUsageSample[] | undefined): void;
  forget(host: string): void;
}

/**
 * The VMs' own usage, asked beside the host observation. It never makes a host unreachable: a
 * driver without per-VM stats, a host that has none (UnsupportedError) or a failed call leaves
 * the host's VMs to count by their allocation until the next observation.
 */
async function vmUsageOf(session: { observeVmUsage?: () => Promise<VmUsageSample[]> }, log: Ctx["log"]): Promise<VmUsageSample[] | undefined> {
  if (!session.observeVmUsage) return undefined;
  try {
    return await session.observeVmUsage();
  } catch (err) {
    log.debug("no per-VM usage this time", { error: String(err) });
    return undefined;
  }
}

async function reconcileHost(ctx: Ctx, env: HostPassEnv): Promise<ReconcileResult> {
  const { sessions, placedOn, exists, observations, poll, draining } = env;
  const host = ctx.object;
  const maintenance = host.spec.maintenance ?? false;
  const drained = await maintain(ctx, placedOn(host.metadata.name), draining);
  let observed = observations.fresh(host);
  try {
    if (!observed) {
      const session = await sessions.refresh(host, ctx.signal);
      const [hostObservation, vms, vmUsage] = await Promise.all([session.observeHost(), session.listVms(), vmUsageOf(session, ctx.log)]);
      observed = { host: hostObservation, vms };
      observations.record(host, observed);
      env.usage.record(host, hostObservation);
      env.usage.recordVms(host.metadata.name, vmUsage);
    }
  } catch (err) {
    observations.forget(host.metadata.name);
    env.usage.forget(host.metadata.name);
    await sessions.drop(host.metadata.name);
    const why = unreachable(err, host.spec.endpoint);
    if (ctx.status.conditions?.find((c) => c.type === Reachable)?.status !== "False" || ctx.status.conditions.find((c) => c.type === Reachable)?.reason !== why.reason) {
      ctx.event("Warning", why.reason, why.message);
    }
    ctx.setCondition({ type: Reachable, status: "False", reason: why.reason, message: why.message });
    ctx.setCondition({ type: Ready, status: "False", reason: "Unreachable", message: why.message });
    ctx.status.phase = "NotReady";
    showFailover(ctx.status, env.failover(host.metadata.name), (c) => ctx.setCondition(c));
    throw new Error(why.message); // retried with the controller's backoff
  }
  const wasReachable = ctx.status.conditions?.find((c) => c.type === Reachable)?.status === "True";
  if (!wasReachable) ctx.event("Normal", "Connected", `connected to ${observed.host.hypervisor} ${observed.host.version}`);
  const orphansBefore = new Set(ctx.status.orphanedVms?.map((o) => o.externalId));
  observedHostStatus(ctx.status, host, { ...observed, placed: placedOn(host.metadata.name), exists });
  announceOrphans(ctx, orphansBefore);
  ctx.setCondition({ type: Reachable, status: "True", reason: "Connected", message: `${observed.host.hypervisor} ${observed.host.version}` });
  ctx.setCondition({ type: Ready, status: "True", reason: maintenance ? "InMaintenance" : "Ready", message: readyMessage(observed.vms, maintenance) });
  ctx.status.phase = !maintenance ? "Ready" : drained ? "InMaintenance" : "EnteringMaintenance";
  showFailover(ctx.status, env.failover(host.metadata.name), (c) => ctx.setCondition(c));
  // while it drains, look again soon (the moves' own changes wake it too)
  return { requeueAfterMs: Math.min(poll, observations.staleInMs(host.metadata.name), maintenance && !drained ? 5_000 : poll) };
}

/** One Warning when VMs become orphans (their VirtualMachine is gone): what they are and the two ways out. */
function announceOrphans(ctx: Ctx, before: Set<string>): void {
  const fresh = (ctx.status.orphanedVms ?? []).filter((o) => !before.has(o.externalId));
  if (fresh.length === 0) return;
  const names = fresh.slice(0, 5).map((o) => `${o.name ?? "?"} (${o.externalId})`).join(", ");
  ctx.event(
    "Warning",
    "OrphanedVMs",
    `${fresh.length} VM(s) made by Omnivisor have no VirtualMachine any more: ${names}${fresh.length > 5 ? ", …" : ""}; left untouched — adopt them (spec.adopt) or delete them on the hypervisor (status.orphanedVms)`,
  );
}

/** What draining a host needs: its VMs' moves, and a way to ask for and withdraw them. */
export interface Draining {
  moves: MovesByVm;
  /** This host's drain VMMigrations (by label). */
  ofHost(host: string): VmMigrationObject[];
  create(m: VmMigrationObject): Promise<void>;
  remove(m: VmMigrationObject): Promise<void>;
}

/** The Maintenance condition, and the drain's moves asked for or withdrawn. True once drained. */
async function maintain(ctx: Ctx, vms: VmObject[], draining: Draining): Promise<boolean> {
  const host = ctx.object;
  const name = host.metadata.name;
  const was = ctx.status.conditions?.find((c) => c.type === Maintenance);
  if (!(host.spec.maintenance ?? false)) {
    for (const m of withdrawDrain(draining.ofHost(name))) await draining.remove(m);
    if (was?.status === "True") ctx.event("Normal", "MaintenanceEnded", "the host takes new VMs again; no VM moves back by itself");
    ctx.setCondition({ type: Maintenance, status: "False", reason: "InService", message: "" });
    return false;
  }
  const policy = host.spec.drainPolicy ?? "Migrate";
  const plan = planDrain(host, { vms, migrationsOf: (key) => draining.moves.of(key), now: Date.now() });
  for (const m of plan.remove) await draining.remove(m);
  for (const m of plan.create) await draining.create(m);
  if (plan.done) {
    const message = policy === "Migrate" ? "no VM is left on the host; it takes no new VMs" : "every VM on the host is stopped; it takes no new VMs";
    if (was?.reason !== "InMaintenance") ctx.event("Normal", "InMaintenance", message);
    ctx.setCondition({ type: Maintenance, status: "True", reason: "InMaintenance", message });
    return true;
  }
  const shown = plan.left.slice(0, 10).join("; ") + (plan.left.length > 10 ? `; and ${plan.left.length - 10} more` : "");
  const how = policy === "Migrate" ? "live-migrating its VMs away" : "shutting its VMs down";
  if (was?.status !== "True") ctx.event("Normal", "EnteringMaintenance", `${how}: ${plan.left.length} VMs on the host`);
  ctx.setCondition({ type: Maintenance, status: "True", reason: "EnteringMaintenance", message: `${how}; ${plan.left.length} VM${plan.left.length === 1 ? "" : "s"} left: ${shown}` });
  return false;
}

function readyMessage(vms: readonly VmObservation[], maintenance: boolean): string {
  const running = vms.filter((v) => v.power === "Running").length;
  return `${vms.length} VMs (${running} running)${maintenance ? "; in maintenance: no new placements" : ""}`;
}

/**
 * A deleted Host: removed (finalizer released, session closed) once no VirtualMachine is on it.
 * Counted across every namespace with the API server's field selector on status.host (this
 * manager may watch one namespace only), plus the VMs whose create is under way there (the
 * placement marker; this manager's own, from its cache).
 */
async function removeHost(ctx: Ctx, sessions: HostSessions, vmClient: ResourceClient<VmObject>, cache: Informer<VmObject>): Promise<ReconcileResult | void> {
  const name = ctx.object.metadata.name;
  const names = new Set<string>();
  let continueToken: string | undefined;
  do {
    const page = await vmClient.listPage({ limit: 500, fieldSelector: `status.host=${name}`, ...(continueToken ? { continueToken } : {}) });
    for (const vm of page.items) names.add(`${vm.metadata.namespace ?? ""}/${vm.metadata.name}`);
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  for (const vm of cache.list()) {
    if (!vm.status?.host && vm.metadata.annotations?.[placedOnAnnotation] === name) names.add(`${vm.metadata.namespace ?? ""}/${vm.metadata.name}`);
  }
  if (names.size > 0) {
    const listed = [...names].sort().slice(0, 5).join(", ") + (names.size > 5 ? ", …" : "");
    const message = `${names.size} VirtualMachine${names.size === 1 ? " is" : "s are"} still on this host (${listed}): delete or move ${names.size === 1 ? "it" : "them"}; the Host is removed once none is left`;
    if (ctx.status.conditions?.find((c) => c.type === Deleting)?.message !== message) ctx.event("Warning", "DeletionWaiting", message);
    ctx.setCondition({ type: Deleting, status: "True", reason: "VirtualMachinesOnHost", message });
    ctx.setCondition({ type: Ready, status: "False", reason: "Deleting", message: "the Host is being deleted: it takes no new VMs" });
    return { requeueAfterMs: 30_000 }; // the VMs' own changes wake it sooner
  }
  await sessions.drop(name);
  await ctx.removeFinalizer(hostFinalizer);
}
