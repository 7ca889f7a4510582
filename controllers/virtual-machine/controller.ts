// The VirtualMachine controller. Status is written at the end of each pass:
//   place     → the host in annotation omnivisor.io/placed-on, written with the finalizer in one
//               request BEFORE any driver call, so a crash can only leave a VM on that host;
//               status.host + Scheduled (why this host) + Created=False/CreatePending follow
//               with the create's outcome (or while it runs, once it takes over a second);
//   create    → observe by uid first (adopt what is there), else createVm (idempotent by uid);
//   converge  → power steps toward spec.powerState, resize (or RestartRequired);
//   delete    → finalizer: the VM leaves the hypervisor, then the object goes.
// spec.adopt takes over an existing VM by its external id on the named host, without a reboot.
import { CoreV1Api } from "@kubernetes/client-node";
import type { VirtualMachineStatus } from "../../src/api/index.ts";
import { Controller, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import { isBeingDeleted } from "../../src/runtime/finalizers.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";
import { statusCode } from "../../src/runtime/log.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { datacentersType, hostPoolsType, hostsType, vdcQuotasType, virtualMachinesType, vmMigrationsType, type DatacenterObject, type HostObject, type HostPoolObject, type VdcQuotaObject, type VmMigrationObject, type VmObject } from "../../src/fleet/kinds.ts";
import { MovesByVm, movedVmKey, started } from "../../src/fleet/moves.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { vmKey } from "../../src/fleet/vms-by-host.ts";
import { ControllerWithCaches, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { HeartbeatClock, followHeartbeats, leasesType, type LeaseObject } from "../../src/fleet/heartbeat-lease.ts";
import { mayPlaceMore } from "./host-changes.ts";
import { CrashLoops } from "./crash-loop.ts";
import { haPoliciesType, type HAPolicyObject } from "../../src/fleet/failovers.ts";
import { followFailover, restartExclusions } from "./ha-restart.ts";
import { followMove } from "./moving.ts";
import { Placement, notScheduled, vmStalledReasons } from "./placement.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import { converge, deleteFromHost, ensureOnHost, openPass, type PassEnv } from "./steps.ts";

export { Scheduled } from "./placement.ts";

export interface VirtualMachineControllerOptions {
  sessions: HostSessions;
  /** How often a converged VM is observed again (drift made outside the operator) when no status watcher follows its host. */
  pollIntervalMs?: number;
  /** The same while the host's status watcher heartbeat is fresh: the watcher reports changes within a second. */
  watchedPollIntervalMs?: number;
  /** Namespace of the status watchers' heartbeat Leases; without it every host counts as unwatched. */
  heartbeatNamespace?: string;
  concurrency?: number;
}

type Ctx = ReconcileContext<VmObject, VirtualMachineStatus>;

export function virtualMachineController(options: VirtualMachineControllerOptions): ControllerRegistration {
  return {
    name: "virtualmachine",
    create(deps) {
      options.sessions.attach(deps.kc, deps.metrics.registry);
      const log = deps.log.with({ controller: "virtualmachine" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const datacenters = readOnlyCache<DatacenterObject>({ ...deps, log }, datacentersType);
      const heartbeatNamespace = options.heartbeatNamespace;
      const leases = heartbeatNamespace ? readOnlyCache<LeaseObject>({ ...deps, log }, leasesType, heartbeatNamespace) : undefined;
      // judged by seeing the lease change on this process's clock, never by the watcher's renewTime
      const heartbeats = new HeartbeatClock();
      if (leases) followHeartbeats(leases, heartbeats);
      const watched = (host: string): boolean => (leases ? heartbeats.fresh(host) : false);
      const stopsAsked = new Map<string, number>();
      const migrations = readOnlyCache<VmMigrationObject>({ ...deps, log }, vmMigrationsType, deps.namespace);
      // per-driver quota limits for VMs that name no driver are applied at placement
      const quotas = readOnlyCache<VdcQuotaObject>({ ...deps, log }, vdcQuotasType, deps.namespace);
      const haPolicies = readOnlyCache<HAPolicyObject>({ ...deps, log }, haPoliciesType);
      const moves = new MovesByVm();
      const secrets = deps.kc.makeApiClient(CoreV1Api);
      const secretValue = async (namespace: string, name: string, key: string): Promise<string> => {
        const secret = await secrets.readNamespacedSecret({ name, namespace });
        const value = secret.data?.[key];
        if (value === undefined) throw new Error(`the Secret has no key ${key}`);
        return Buffer.from(value, "base64").toString("utf8");
      };
      // eslint-disable-next-line prefer-const -- placement follows the controller's own cache
      let placement: Placement;
      const env: PassEnv = {
        sessions: options.sessions,
        host: (name) => hosts.get(name),
        datacenter: (name) => datacenters.get(name),
        pollIntervalMs: (host) => (watched(host) ? (options.watchedPollIntervalMs ?? 300_000) : (options.pollIntervalMs ?? 15_000)),
        stopsAsked,
        crashLoops: new CrashLoops(),
        secretValue,
        rejected: (ctx, host, why) => placement.refused(ctx, host, why),
        moves,
        uidExists: (uid) => placement.placed.hasUid(uid),
      };

      const reconcile = async (ctx: Ctx): Promise<ReconcileResult | void> => {
        if (isBeingDeleted(ctx.object)) {
          if (!(await deleteFromHost(ctx, env, vmFinalizer))) return { requeueAfterMs: 1_000 };
          placement.released(ctx.key);
          return;
        }
        // A VM of a failed host: restarted elsewhere once HA asks and the fence is confirmed (ha-restart.ts)
        const failover = { policies: haPolicies.list(), host: (name: string) => hosts.get(name), forgetCrashes: (uid: string) => env.crashLoops.forget(uid) };
        const failedHost = await followFailover(ctx, failover);
        if (failedHost) return failedHost;
        if (!ctx.status.host) {
          const before = structuredClone(ctx.status);
          const restarting = restartExclusions(ctx.object, failover);
          const decision = placement.decide(ctx, restarting, restarting !== undefined);
          if (!decision) {
            ctx.status.phase = "Pending";
            notScheduled(ctx);
            return { requeueAfterMs: 10_000 }; // hosts change (capacity, readiness): try again
          }
          // The create-pending marker (ADR 0014): the host in an annotation, written with the
          // finalizer in one request before any driver call. A crash after the create finds the
          // VM on this host by observation; it is never placed, or created, a second time. The
          // write is exclusive (the version read as a precondition): a second manager that also
          // believes it leads gets a conflict instead of a placement of its own (ADR 0018).
          try {
            await ctx.ensureFinalizer(vmFinalizer, ctx.object.spec.adopt ? {} : { [placedOnAnnotation]: decision.host }, { exclusive: true });
          } catch (err) {
            if (statusCode(err) !== 409) throw err;
            placement.released(ctx.key);
            replaceStatus(ctx.status, before); // nothing of this decision is written
            log.debug("placement conflict: the VM changed since it was read; deciding again", { key: ctx.key });
            return { requeueAfterMs: 500 };
          }
          if (decision.scheduled) ctx.event("Normal", "Scheduled", decision.scheduled);
        } else {
          await ctx.ensureFinalizer(vmFinalizer);
        }
        const pass = await openPass(ctx, env);
        if (!pass) return { requeueAfterMs: 2_000 };
        const move = moves.inFlight(ctx.key).find((m) => started(m) && m.status.sourceHost === pass.hostName);
        if (move && started(move)) return followMove(pass, move);
        const present = await ensureOnHost(pass);
        if (present === "replace") {
          await ctx.ensureFinalizer(vmFinalizer, { [placedOnAnnotation]: undefined });
          return { requeueAfterMs: 1 };
        }
        if (present === "waiting") return { requeueAfterMs: 2_000 };
        if (present === "missing") return { requeueAfterMs: env.pollIntervalMs(pass.hostName) }; // the user's annotation wakes it sooner
        return converge(pass, present);
      };

      const controller = new Controller<VmObject, VirtualMachineStatus>(
        {
          name: "virtualmachine",
          resource: virtualMachinesType,
          concurrency: options.concurrency ?? 4,
          backoff: { baseMs: 500, capMs: 60_000 },
          reconciler: { reconcile },
          readiness: stalledWhen(vmStalledReasons),
        },
        deps,
      );
      placement = new Placement({ hosts, pools, datacenters, vms: controller.informer, quotas, haPolicies });
      // A VMMigration's changes wake its VM: a move started, ended, or was cancelled.
      moves.follow(migrations);
      // Not at every progress write (twice a second while a move runs): only when its phase or
      // Ready reason changes — each wake observes the VM on a source that is busy migrating it.
      const wake = (m: VmMigrationObject): void => controller.queue.add(movedVmKey(m));
      const stage = (m: VmMigrationObject): string => `${m.status?.phase ?? ""}/${m.status?.conditions?.find((c) => c.type === "Ready")?.reason ?? ""}`;
      migrations.on({ added: wake, updated: (before, m) => void (stage(before) !== stage(m) && wake(m)), deleted: wake });
      // A Host becoming ready (or leaving maintenance, or freeing capacity) may let unplaced VMs
      // fit. They are kept as a set, so a Host update in a fleet where everything is placed costs
      // nothing (walking every VM on each Host status write was a hot spot at 3,000 VMs).
      const unplaced = new Set<string>();
      const track = (vm: VmObject): void => void (vm.status?.host ? unplaced.delete(vmKey(vm)) : unplaced.add(vmKey(vm)));
      controller.informer.on({ added: track, updated: (_old, vm) => track(vm), deleted: (vm) => unplaced.delete(vmKey(vm)) });
      const pending = (): void => {
        for (const key of unplaced) controller.queue.add(key);
      };
      // A Host's spec changed (its endpoint, its credentials): its VMs are looked at again at once,
      // not at their next poll (up to 5 minutes on a watched host).
      const respecified = (before: HostObject, after: HostObject): void => {
        if (before.metadata.generation === after.metadata.generation) return;
        for (const vm of placement.placed.on(after.metadata.name)) controller.queue.add(vmKey(vm));
      };
      // Pending VMs are looked at again when a host appears or may take more (host-changes.ts),
      // not at every Host status write: that was a requeue storm placing nothing new.
      hosts.on({
        added: pending,
        updated: (before, after) => {
          if (mayPlaceMore(before, after)) pending();
          respecified(before, after);
        },
      });
      // A heartbeat lapses without an event: look every few seconds, and observe the VMs of a host
      // whose watcher went quiet at once (they were on the long poll).
      const wasWatched = new Set<string>();
      const lapses = leases
        ? setInterval(() => {
            for (const host of hosts.list().map((h) => h.metadata.name)) {
              const now = watched(host);
              if (now) wasWatched.add(host);
              else if (wasWatched.delete(host)) {
                log.info("status watcher heartbeat lapsed; observing the host's VMs", { host });
                for (const vm of placement.placed.on(host)) controller.queue.add(vmKey(vm));
              }
            }
          }, 5_000)
        : undefined;
      lapses?.unref();
      // a failover's record changing (fenced, a group's turn) wakes the VMs of that host
      const failoverHosts = (p: HAPolicyObject | undefined): string[] => (p?.status?.failoversInProgress ?? []).map((f) => f.host);
      const wakeFailed = (...ps: (HAPolicyObject | undefined)[]): void => {
        for (const host of new Set(ps.flatMap(failoverHosts))) for (const vm of placement.placed.on(host)) controller.queue.add(vmKey(vm));
      };
      haPolicies.on({ added: (p) => wakeFailed(p), updated: (a, b) => wakeFailed(a, b), deleted: (p) => wakeFailed(p) });
      const caches = [hosts, pools, datacenters, migrations, quotas, haPolicies, ...(leases ? [leases] : [])] as Informer<KubeObject>[];
      return new ControllerWithCaches(controller, caches, () => {
        clearInterval(lapses);
        return Promise.resolve();
      });
    },
  };
}

/** Puts `before` back in place of what a pass changed in its status. */
function replaceStatus(status: VirtualMachineStatus, before: VirtualMachineStatus): void {
  for (const key of Object.keys(status) as (keyof VirtualMachineStatus)[]) delete status[key];
  Object.assign(status, before);
}
