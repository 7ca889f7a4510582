// The VMMigration controller: moves one VM to another host on request (steps.ts), within the
// limits (limits.ts), to a target it checks or chooses (target.ts), running the hypervisor's job
// in the background (jobs.ts) while passes report its progress. The VM's host is recorded by the
// VirtualMachine controller (src/fleet/moves.ts says how the two meet).
import { finishedPhases, type VMMigrationStatus } from "../../src/api/index.ts";
import { datacentersType, hostPoolsType, hostsType, virtualMachinesType, vmMigrationsType, type DatacenterObject, type HostObject, type HostPoolObject, type VmMigrationObject, type VmObject } from "../../src/fleet/kinds.ts";
import { MovesByVm, byAge, inFlight, migrationKey, movedVmKey } from "../../src/fleet/moves.ts";
import { vmKey } from "../../src/fleet/vms-by-host.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { Reservations, VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { Controller } from "../../src/runtime/controller.ts";
import { isBeingDeleted } from "../../src/runtime/finalizers.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { ControllerWithCaches, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { MoveJobs } from "./jobs.ts";
import { defaultLimits, waitsFor, type MigrationLimits, type RunningMove } from "./limits.ts";
import { cancelForDeletion, follow, schedule, type Ctx, type MigrationEnv } from "./steps.ts";
import { chooseTarget } from "./target.ts";

export const migrationFinalizer = "omnivisor.io/vm-migration";

export interface VmMigrationControllerOptions {
  sessions: HostSessions;
  limits?: Partial<MigrationLimits>;
}

export function vmMigrationController(options: VmMigrationControllerOptions): ControllerRegistration {
  return {
    name: "vmmigration",
    create(deps) {
      options.sessions.attach(deps.kc, deps.metrics.registry);
      const log = deps.log.with({ controller: "vmmigration" });
      const limits = { ...defaultLimits, ...options.limits };
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const datacenters = readOnlyCache<DatacenterObject>({ ...deps, log }, datacentersType);
      const placed = new VmsByHost();
      placed.follow(vms);
      const moves = new MovesByVm();
      const jobs = new MoveJobs();
      /** Moves admitted by this process that the cache may not show Running yet, by key. */
      const admitted = new Map<string, string>();
      // The targets of moves in flight count there until the VM is recorded on them.
      const reservations = new Reservations();
      let round = 0;

      // eslint-disable-next-line prefer-const -- the controller's cache is read once it exists
      let controller: Controller<VmMigrationObject, VMMigrationStatus>;
      const running = (): RunningMove[] => {
        const out = new Map<string, string>(admitted);
        for (const m of controller.informer.list()) {
          const key = migrationKey(m);
          if (m.status?.phase === "Running" && m.status.sourceHost) out.set(key, m.status.sourceHost);
          else if (!inFlight(m)) out.delete(key);
        }
        return [...out].map(([key, source]) => ({ key, source }));
      };
      const env: MigrationEnv = {
        sessions: options.sessions,
        jobs,
        vm: (key) => vms.get(key),
        host: (name) => hosts.get(name),
        datacenter: (name) => datacenters.get(name),
        othersInFlight: (ctx) => moves.inFlight(movedVmKey(ctx.object)).filter((m) => m.metadata.name !== ctx.object.metadata.name && byAge(m, ctx.object) < 0),
        admit: (ctx, source) => {
          const why = waitsFor(limits, running(), ctx.key, source);
          if (why === undefined) admitted.set(ctx.key, source);
          return why;
        },
        chooseTarget: (vm, source, wanted) => {
          const fleet = { hosts: hosts.list(), pools: pools.list(), datacenters: datacenters.list(), placed, reservations, vm: (key: string) => vms.get(key) };
          const choice = chooseTarget(fleet, vm, source, wanted, round++);
          if ("host" in choice) reservations.set(vmKey(vm), choice.host, vm);
          return choice;
        },
        wake: (key) => controller.queue.add(key),
        cancelled: new Set(),
        missingSince: new Map(),
      };

      const reconcile = async (ctx: Ctx) => {
        if (isBeingDeleted(ctx.object)) {
          const outcome = await cancelForDeletion(ctx, env);
          if (outcome !== "done") return outcome;
          release(ctx.key, ctx.object);
          await ctx.removeFinalizer(migrationFinalizer);
          return;
        }
        // ctx.status, not the cached object: the cache may not show this controller's last write yet
        if (finishedPhases.includes(ctx.status.phase ?? "Pending")) return release(ctx.key, ctx.object);
        await ctx.ensureFinalizer(migrationFinalizer);
        const result = ctx.status.phase === "Running" ? await follow(ctx, env) : await schedule(ctx, env);
        const now = ctx.status.phase ?? "Pending";
        if (finishedPhases.includes(now)) release(ctx.key, ctx.object);
        else if (now === "Pending") admitted.delete(ctx.key);
        return result;
      };

      const release = (key: string, m: VmMigrationObject): void => {
        admitted.delete(key);
        jobs.forget(key);
        if (reservations.get(movedVmKey(m)) !== undefined) reservations.delete(movedVmKey(m));
      };

      controller = new Controller<VmMigrationObject, VMMigrationStatus>(
        { name: "vmmigration", resource: vmMigrationsType, concurrency: 8, backoff: { baseMs: 500, capMs: 30_000 }, reconciler: { reconcile }, readiness: { stalled: (_ready, status) => ["Failed", "Cancelled"].includes((status as VMMigrationStatus).phase ?? "") } },
        deps,
      );
      moves.follow(controller.informer);
      // A move that ends frees a slot: the waiting ones look again.
      const waiting = (): void => {
        for (const m of controller.informer.list()) if (m.status?.phase === "Pending" || m.status?.phase === undefined) controller.queue.add(migrationKey(m));
      };
      controller.informer.on({ updated: (before, after) => void (inFlight(before) && !inFlight(after) && waiting()), deleted: waiting });
      // The VM's changes (recorded on the target, being deleted) wake its moves.
      const wakeMoves = (vm: VmObject): void => {
        for (const m of moves.inFlight(vmKey(vm))) controller.queue.add(migrationKey(m));
      };
      vms.on({ updated: (_old, vm) => wakeMoves(vm), deleted: wakeMoves });
      return new ControllerWithCaches(controller, [vms, hosts, pools, datacenters] as Informer<KubeObject>[], () => {
        jobs.stopAll();
        return Promise.resolve();
      });
    },
  };
}
