// VirtualMachines grouped by the host their status names, with each host's summed demand, kept
// up to date from the VM cache's events. Placement and the Host controller read per-host figures
// in O(1) instead of walking every VM: at 10,000 VMs the walk per placement was quadratic.
import type { Informer } from "../runtime/informer.ts";
import { vmDemand, type HostFigures } from "./demand.ts";
import type { VmObject } from "./kinds.ts";

export const vmKey = (vm: VmObject): string => `${vm.metadata.namespace}/${vm.metadata.name}`;

type Demand = Required<HostFigures>;

const zero = (): Demand => ({ cpus: 0, memoryMiB: 0, storageGiB: 0 });

function demandOf(vm: VmObject): Demand {
  const d = vmDemand(vm);
  return { cpus: d.cpus, memoryMiB: d.memoryMiB, storageGiB: d.storageGiB ?? 0 };
}

/** Keys grouped by host, each with a value and a demand, and each host's summed demand. */
class PerHost<V> {
  private readonly entries = new Map<string, { host: string; value: V; demand: Demand }>();
  private readonly byHost = new Map<string, Map<string, V>>();
  private readonly sums = new Map<string, Demand>();

  get size(): number {
    return this.entries.size;
  }

  set(key: string, host: string, value: V, demand: Demand): void {
    this.delete(key);
    this.entries.set(key, { host, value, demand });
    let members = this.byHost.get(host);
    if (!members) this.byHost.set(host, (members = new Map<string, V>()));
    members.set(key, value);
    this.add(host, demand, 1);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const members = this.byHost.get(entry.host);
    members?.delete(key);
    if (members?.size === 0) this.byHost.delete(entry.host);
    this.add(entry.host, entry.demand, -1);
  }

  hostOf(key: string): string | undefined {
    return this.entries.get(key)?.host;
  }

  demandOf(key: string): Demand | undefined {
    return this.entries.get(key)?.demand;
  }

  members(host: string): Map<string, V> | undefined {
    return this.byHost.get(host);
  }

  demand(host: string): Demand {
    return { ...(this.sums.get(host) ?? zero()) };
  }

  private add(host: string, d: Demand, sign: 1 | -1): void {
    const s = this.sums.get(host) ?? zero();
    s.cpus += sign * d.cpus;
    s.memoryMiB += sign * d.memoryMiB;
    s.storageGiB += sign * d.storageGiB;
    if (this.byHost.has(host)) this.sums.set(host, s);
    else this.sums.delete(host);
  }
}

export class VmsByHost {
  private readonly index = new PerHost<VmObject>();
  /** uid → key of every VirtualMachine seen, placed or not: tells an orphan from a managed VM. */
  private readonly uids = new Map<string, string>();
  private readonly uidOfKey = new Map<string, string>();

  /** Follows the informer (call before it starts, so the initial list is seen). */
  follow(informer: Informer<VmObject>): this {
    informer.on({ added: (vm) => this.put(vm), updated: (_old, vm) => this.put(vm), deleted: (vm) => this.remove(vmKey(vm)) });
    return this;
  }

  put(vm: VmObject): void {
    const key = vmKey(vm);
    const uid = vm.metadata.uid;
    if (uid && this.uidOfKey.get(key) !== uid) {
      this.forgetUid(key);
      this.uids.set(uid, key);
      this.uidOfKey.set(key, uid);
    }
    const host = vm.status?.host;
    if (host) this.index.set(key, host, vm, demandOf(vm));
    else this.index.delete(key);
  }

  remove(key: string): void {
    this.index.delete(key);
    this.forgetUid(key);
  }

  /** Whether a VirtualMachine with this uid exists (in the cache this index follows). */
  hasUid(uid: string): boolean {
    return this.uids.has(uid);
  }

  private forgetUid(key: string): void {
    const uid = this.uidOfKey.get(key);
    if (uid === undefined) return;
    this.uidOfKey.delete(key);
    if (this.uids.get(uid) === key) this.uids.delete(uid);
  }

  /** The host a VM is recorded on, if any. */
  hostOf(key: string): string | undefined {
    return this.index.hostOf(key);
  }

  /** The VMs recorded on host. */
  on(host: string): VmObject[] {
    return [...(this.index.members(host)?.values() ?? [])];
  }

  count(host: string): number {
    return this.index.members(host)?.size ?? 0;
  }

  /** Summed demand of the VMs on host. */
  demand(host: string): Demand {
    return this.index.demand(host);
  }

  /** A VM's demand as recorded (undefined when it is on no host). */
  demandOf(key: string): Demand | undefined {
    return this.index.demandOf(key);
  }
}

/**
 * Placements this process made that the VM cache has not shown yet, with each host's summed
 * demand: placement reads them per host in O(1). (Walking them on every placement was quadratic
 * when 10,000 VMs were placed before the cache caught up.)
 */
export class Reservations {
  private readonly index = new PerHost<true>();

  get size(): number {
    return this.index.size;
  }

  get(key: string): string | undefined {
    return this.index.hostOf(key);
  }

  set(key: string, host: string, vm: VmObject): void {
    this.index.set(key, host, true, demandOf(vm));
  }

  delete(key: string): void {
    this.index.delete(key);
  }

  /** Keys reserved on host. */
  on(host: string): string[] {
    return [...(this.index.members(host)?.keys() ?? [])];
  }

  demand(host: string): Demand {
    return this.index.demand(host);
  }

  demandOf(key: string): Demand | undefined {
    return this.index.demandOf(key);
  }
}
