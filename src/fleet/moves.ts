// Moves of a VM between hosts, as the VirtualMachine and VMMigration controllers both see them.
// A move is requested by a VMMigration naming the VM; the VMMigration controller runs the
// hypervisor's job, and the VirtualMachine controller — the only writer of status.host — records
// the VM on its new host once it is there and no longer on the old one (controllers/README.md).
import { finishedPhases } from "../api/index.ts";
import type { Informer } from "../runtime/informer.ts";
import type { VmMigrationObject } from "./kinds.ts";

/** The key (namespace/name) of the VirtualMachine a VMMigration moves. */
export const movedVmKey = (m: VmMigrationObject): string => `${m.metadata.namespace ?? ""}/${m.spec.virtualMachine}`;

/** A VMMigration's own key (namespace/name), as its controller's queue knows it. */
export const migrationKey = (m: VmMigrationObject): string => `${m.metadata.namespace ?? ""}/${m.metadata.name}`;

/** Not finished: Pending, Scheduling or Running (also while its deletion cancels it). */
export function inFlight(m: VmMigrationObject): boolean {
  return !finishedPhases.includes(m.status?.phase ?? "Pending");
}

/**
 * A move whose hypervisor job may be running or done: Running, with the source and target
 * recorded. Until its VM is recorded on the target, the VM is on one of the two.
 */
export function started(m: VmMigrationObject): m is VmMigrationObject & { status: { sourceHost: string; targetHost: string } } {
  return m.status?.phase === "Running" && m.status.sourceHost !== undefined && m.status.targetHost !== undefined;
}

/** The VMMigrations of each VM, kept from a cache's events. */
export class MovesByVm {
  private readonly byVm = new Map<string, Map<string, VmMigrationObject>>();

  follow(migrations: Informer<VmMigrationObject>): void {
    const add = (m: VmMigrationObject): void => {
      const vm = movedVmKey(m);
      (this.byVm.get(vm) ?? this.byVm.set(vm, new Map()).get(vm)!).set(migrationKey(m), m);
    };
    const remove = (m: VmMigrationObject): void => {
      const vm = movedVmKey(m);
      const of = this.byVm.get(vm);
      of?.delete(migrationKey(m));
      if (of?.size === 0) this.byVm.delete(vm);
    };
    migrations.on({ added: add, updated: (_old, m) => add(m), deleted: remove });
    for (const m of migrations.list()) add(m);
  }

  /** Every VMMigration of the VM, oldest first. */
  of(vmKey: string): VmMigrationObject[] {
    return [...(this.byVm.get(vmKey)?.values() ?? [])].sort(byAge);
  }

  /** The VM's VMMigrations not finished, oldest first. */
  inFlight(vmKey: string): VmMigrationObject[] {
    return this.of(vmKey).filter(inFlight);
  }
}

/** Oldest first: by creation, then by name. */
export function byAge(a: VmMigrationObject, b: VmMigrationObject): number {
  const at = (m: VmMigrationObject): string => m.metadata.creationTimestamp ?? "";
  return at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : a.metadata.name < b.metadata.name ? -1 : 1;
}
