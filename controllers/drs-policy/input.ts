// One pool as the DRS planner sees it (src/placement/drs/types.ts), built from the caches: its
// hosts as placement candidates, marked when they cannot live-migrate; its VMs with their
// placement requests, their own usage where the driver reports it, and why each must stay put
// now (moving, failing over, changing power, pinned, cooling down after a move). Pure.
import type { Demand, DrsHost, DrsInput, DrsVm, MigrationThreshold } from "../../src/placement/drs/types.ts";
import { haRestartAnnotation } from "../../src/fleet/failovers.ts";
import type { HostObject, HostPoolObject, VmMigrationObject, VmObject } from "../../src/fleet/kinds.ts";
import { poolMembers } from "../../src/fleet/membership.ts";
import { inFlight } from "../../src/fleet/moves.ts";
import { candidates, placementRequest, type Fleet } from "../../src/fleet/placement-input.ts";
import { vmKey } from "../../src/fleet/vms-by-host.ts";

/** After a move of a VM ends (any VMMigration, DRS's or a user's), DRS leaves the VM where it is for this long (ADR 0046). */
export const cooldownMs = 10 * 60_000;

export interface PoolView {
  fleet: Fleet;
  pool: HostPoolObject;
  /** Why a host cannot send or receive live migrations (its driver's capabilities), undefined when it can. */
  cannotMigrate(host: HostObject): string | undefined;
  /** Every VMMigration of a VM (by namespace/name), oldest first. */
  migrationsOf(vmKey: string): readonly VmMigrationObject[];
  /** A VM's own usage (by uid) where its driver reports it. */
  demandOf(uid: string): Demand | undefined;
  threshold: MigrationThreshold;
  /** A pass's budget of moves (status lists 256; nobody reads thousands, and it bounds the planner's work). */
  maxMoves?: number;
  now: number;
}

/** The pool's input, and the VMs counted on a move's target rather than where status says they are. */
export function poolInput(view: PoolView): DrsInput {
  const members = poolMembers(view.pool, view.fleet.hosts);
  const names = new Set(members.map((h) => h.metadata.name));
  const byName = new Map(members.map((h) => [h.metadata.name, h]));
  const hosts: DrsHost[] = candidates(view.fleet)
    .filter((c) => names.has(c.name))
    .map((c) => {
      const why = view.cannotMigrate(byName.get(c.name)!);
      return why !== undefined ? { ...c, cannotMigrate: why } : c;
    });
  const vms: DrsVm[] = [];
  for (const host of members) {
    for (const vm of view.fleet.placed.on(host.metadata.name)) {
      const migrations = view.migrationsOf(vmKey(vm));
      const moving = migrations.find(inFlight);
      // a VM on its way counts where it goes, so the next pass does not send a second VM to make the same room
      const target = moving?.status?.targetHost ?? moving?.spec.targetHost;
      const at = target !== undefined && names.has(target) ? target : host.metadata.name;
      const uid = vm.metadata.uid;
      const demand = uid !== undefined ? view.demandOf(uid) : undefined;
      const why = cannotMove(vm, host.metadata.name, migrations, view.now);
      vms.push({
        request: { ...placementRequest(vm, view.fleet), driver: host.spec.driver },
        host: at,
        ...(demand !== undefined ? { demand: { cpus: demand.cpus, memoryMiB: demand.memoryMiB } } : {}),
        ...(why !== undefined ? { cannotMove: why } : {}),
      });
    }
  }
  return { hosts, vms, threshold: view.threshold, ...(view.maxMoves !== undefined ? { maxMoves: view.maxMoves } : {}) };
}

/** Why DRS must not move this VM now; undefined when it may. */
export function cannotMove(vm: VmObject, host: string, migrations: readonly VmMigrationObject[], now: number): string | undefined {
  if (vm.metadata.deletionTimestamp) return "being deleted";
  const moving = migrations.find(inFlight);
  if (moving) return `migrating (VMMigration ${moving.metadata.name}, ${moving.status?.phase ?? "Pending"})`;
  const failover = vm.metadata.annotations?.[haRestartAnnotation];
  if (failover !== undefined) return `failing over (HA restart from host ${failover})`;
  const power = notSteadilyRunning(vm);
  if (power !== undefined) return power;
  const pinned = vm.spec.placement?.hosts;
  if (pinned !== undefined && pinned.every((h) => h === host)) return `pinned to host ${host} by spec.placement.hosts`;
  const last = lastMoveEnd(migrations);
  if (last !== undefined && now - last.at < cooldownMs) {
    return `cooling down after VMMigration ${last.name} until ${new Date(last.at + cooldownMs).toISOString()}`;
  }
  return undefined;
}

function notSteadilyRunning(vm: VmObject): string | undefined {
  if ((vm.spec.powerState ?? "Running") !== "Running") return `not meant to run (spec.powerState ${vm.spec.powerState})`;
  if (vm.status?.phase !== "Running" || vm.status.powerState !== "Running") return `not running steadily (phase ${vm.status?.phase ?? "unknown"}, power ${vm.status?.powerState ?? "unknown"})`;
  return undefined;
}

/** When the VM's latest finished move ended (its completedAt, else its creation). */
function lastMoveEnd(migrations: readonly VmMigrationObject[]): { name: string; at: number } | undefined {
  let out: { name: string; at: number } | undefined;
  for (const m of migrations) {
    if (inFlight(m)) continue;
    const at = Date.parse(m.status?.completedAt ?? m.metadata.creationTimestamp ?? "");
    if (Number.isFinite(at) && (out === undefined || at > out.at)) out = { name: m.metadata.name, at };
  }
  return out;
}
