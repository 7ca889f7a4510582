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
import { place } from "../../src/placement/place.ts";
import { Controller, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import { isBeingDeleted } from "../../src/runtime/finalizers.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { datacentersType, hostPoolsType, hostsType, virtualMachinesType, type DatacenterObject, type HostObject, type HostPoolObject, type VmObject } from "../../src/fleet/kinds.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { Reservations, VmsByHost, vmKey } from "../../src/fleet/vms-by-host.ts";
import { ControllerWithCaches, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { heartbeatFresh, heartbeatKey, leasesType, type LeaseObject } from "../../src/fleet/heartbeat-lease.ts";
import { candidates, placementRequest, type Fleet } from "./placement-input.ts";
import { Rejections, rejectionTtlMs } from "./rejections.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import { converge, deleteFromHost, ensureOnHost, type VmPass } from "./steps.ts";

export const Scheduled = "Scheduled";

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
      options.sessions.attach(deps.kc);
      const log = deps.log.with({ controller: "virtualmachine" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const datacenters = readOnlyCache<DatacenterObject>({ ...deps, log }, datacentersType);
      const heartbeatNamespace = options.heartbeatNamespace;
      const leases = heartbeatNamespace ? readOnlyCache<LeaseObject>({ ...deps, log }, leasesType, heartbeatNamespace) : undefined;
      const watched = (host: string): boolean => (leases && heartbeatNamespace ? heartbeatFresh(leases.get(heartbeatKey(heartbeatNamespace, host)), Date.now()) : false);
      const reservations = new Reservations();
      const placed = new VmsByHost();
      const stopsAsked = new Map<string, number>();
      const rejections = new Rejections();
      const secrets = deps.kc.makeApiClient(CoreV1Api);
      const secretValue = async (namespace: string, name: string, key: string): Promise<string> => {
        const secret = await secrets.readNamespacedSecret({ name, namespace });
        const value = secret.data?.[key];
        if (value === undefined) throw new Error(`the Secret has no key ${key}`);
        return Buffer.from(value, "base64").toString("utf8");
      };
      let round = 0;
      // eslint-disable-next-line prefer-const -- the reconciler reads the controller's cache
      let controller: Controller<VmObject, VirtualMachineStatus>;

      /** Places the VM; synchronous from reading the caches to reserving, so two passes never race. */
      const schedule = (ctx: Ctx): string | undefined => {
        const fleet: Fleet = { hosts: hosts.list(), pools: pools.list(), datacenters: datacenters.list(), placed, reservations, vm: (key) => controller.informer.get(key) };
        const refused = rejections.of(ctx.key);
        const usable = candidates(fleet, ctx.object).filter((c) => !refused.has(c.name));
        const decision = place(placementRequest(ctx.object, fleet), usable, { round: round++ });
        if (!decision.host) {
          const why = refused.size > 0 ? `${decision.message}; left out for ${rejectionTtlMs / 60_000} minutes after refusing the create: ${[...refused.values()].join("; ")}` : decision.message;
          ctx.setCondition({ type: Scheduled, status: "False", reason: decision.reason, message: why });
          return undefined;
        }
        reservations.set(ctx.key, decision.host, ctx.object);
        ctx.setCondition({ type: Scheduled, status: "True", reason: decision.reason, message: decision.message });
        ctx.event("Normal", "Scheduled", decision.message);
        return decision.host;
      };

      const passOf = (ctx: Ctx): VmPass => ({
        ctx,
        sessions: options.sessions,
        host: (name) => hosts.get(name),
        datacenter: (name) => datacenters.get(name),
        pollIntervalMs: ctx.status.host && watched(ctx.status.host) ? (options.watchedPollIntervalMs ?? 300_000) : (options.pollIntervalMs ?? 15_000),
        stopsAsked,
        secretValue,
        rejected: (host, why) => rejections.add(ctx.key, host, why),
      });

      const reconcile = async (ctx: Ctx): Promise<ReconcileResult | void> => {
        if (isBeingDeleted(ctx.object)) {
          await deleteFromHost(passOf(ctx), vmFinalizer);
          reservations.delete(ctx.key);
          return;
        }
        if (!ctx.status.host) {
          const adopt = ctx.object.spec.adopt;
          const earlier = adopt ? undefined : earlierPlacement(ctx, reservations);
          const host = adopt ? adopt.host : (earlier ?? schedule(ctx));
          if (!host) {
            ctx.status.phase = "Pending";
            return { requeueAfterMs: 10_000 }; // hosts change (capacity, readiness): try again
          }
          if (adopt) ctx.setCondition({ type: Scheduled, status: "True", reason: "Adopted", message: `adopting ${adopt.externalId} on host ${adopt.host}` });
          else if (earlier) keepEarlierPlacement(ctx, earlier, reservations);
          recordPlacement(ctx, host, hosts.get(host));
          // The create-pending marker (ADR 0014): the host in an annotation, written with the
          // finalizer in one request before any driver call. A crash after the create finds the
          // VM on this host by observation; it is never placed, or created, a second time.
          await ctx.ensureFinalizer(vmFinalizer, adopt ? {} : { [placedOnAnnotation]: host });
        } else {
          await ctx.ensureFinalizer(vmFinalizer);
        }
        const pass = passOf(ctx);
        const present = await ensureOnHost(pass);
        if (present === "replace") {
          reservations.delete(ctx.key);
          await ctx.ensureFinalizer(vmFinalizer, { [placedOnAnnotation]: undefined });
          return { requeueAfterMs: 1 };
        }
        if (present === "waiting") return { requeueAfterMs: 2_000 };
        return converge(pass, present);
      };

      controller = new Controller<VmObject, VirtualMachineStatus>(
        {
          name: "virtualmachine",
          resource: virtualMachinesType,
          concurrency: options.concurrency ?? 4,
          backoff: { baseMs: 500, capMs: 60_000 },
          reconciler: { reconcile },
        },
        deps,
      );
      placed.follow(controller.informer);
      // A reservation is needed only until the cache shows the VM on its host.
      controller.informer.on({
        added: (vm) => void (reservations.get(vmKey(vm)) === vm.status?.host && reservations.delete(vmKey(vm))),
        updated: (_old, vm) => void (reservations.get(vmKey(vm)) === vm.status?.host && reservations.delete(vmKey(vm))),
        deleted: (vm) => {
          reservations.delete(vmKey(vm));
          rejections.forget(vmKey(vm));
        },
      });
      // A Host becoming ready (or leaving maintenance, or freeing capacity) may let unplaced VMs
      // fit. They are kept as a set, so a Host update in a fleet where everything is placed costs
      // nothing (walking every VM on each Host status write was a hot spot at 3,000 VMs).
      const unplaced = new Set<string>();
      const track = (vm: VmObject): void => void (vm.status?.host ? unplaced.delete(vmKey(vm)) : unplaced.add(vmKey(vm)));
      controller.informer.on({ added: track, updated: (_old, vm) => track(vm), deleted: (vm) => unplaced.delete(vmKey(vm)) });
      const pending = (): void => {
        for (const key of unplaced) controller.queue.add(key);
      };
      hosts.on({ added: pending, updated: pending });
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
                for (const vm of placed.on(host)) controller.queue.add(vmKey(vm));
              }
            }
          }, 5_000)
        : undefined;
      lapses?.unref();
      const caches = [hosts, pools, datacenters, ...(leases ? [leases] : [])] as Informer<KubeObject>[];
      return new ControllerWithCaches(controller, caches, () => {
        clearInterval(lapses);
        return Promise.resolve();
      });
    },
  };
}

/**
 * A placement recorded before this pass but not yet in status: the marker of a pass that failed
 * (or a process that stopped) after writing it, or this process's own decision the cache has not
 * shown yet. Not after the host rejected the create: then the VM is placed anew.
 */
function earlierPlacement(ctx: Ctx, reservations: Reservations): string | undefined {
  const rejected = ctx.status.conditions?.some((c) => c.type === Scheduled && c.status === "False" && c.reason === "HostRejected") ?? false;
  if (rejected) return undefined;
  return ctx.object.metadata.annotations?.[placedOnAnnotation] ?? reservations.get(ctx.key);
}

function keepEarlierPlacement(ctx: Ctx, host: string, reservations: Reservations): void {
  if (reservations.get(ctx.key) === undefined) reservations.set(ctx.key, host, ctx.object); // counted until the cache shows it
  if (!ctx.status.conditions?.some((c) => c.type === Scheduled && c.status === "True")) {
    ctx.setCondition({ type: Scheduled, status: "True", reason: "Placed", message: `placed on host ${host} (recorded in ${placedOnAnnotation})` });
  }
}

/** Host, driver and Created=False/CreatePending in status: written with the create's outcome, or meanwhile if it is slow. */
function recordPlacement(ctx: Ctx, host: string, hostObject: HostObject | undefined): void {
  ctx.status.host = host;
  if (hostObject) ctx.status.driver = hostObject.spec.driver;
  ctx.status.phase = "Provisioning";
  const what = ctx.object.spec.adopt ? `adopting ${ctx.object.spec.adopt.externalId}` : `creating as uid ${ctx.object.metadata.uid ?? "?"}`;
  ctx.setCondition({ type: "Created", status: "False", reason: "CreatePending", message: `${what} on host ${host}` });
  ctx.setCondition({ type: "Ready", status: "False", reason: "Provisioning", message: `${what} on host ${host}` });
}
