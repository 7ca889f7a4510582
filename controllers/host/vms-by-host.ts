// VirtualMachines grouped by the host their status names, with each host's summed demand, kept
// up to date from the VM cache's events. Placement and the Host controller read per-host figures
// in O(1) instead of walking every VM: at 10,000 VMs the walk per placement was quadratic.
import type { Informer } from "../../src/runtime/informer.ts";
import { vmDemand, type HostFigures } from "./host-status.ts";
import type { VmObject } from "./kinds.ts";

export const vmKey = (vm: VmObject): string => `${vm.metadata.namespace}/${vm.metadata.name}`;

interface Entry {
  vm: VmObject;
  host: string;
  demand: Required<HostFigures>;
}

const zero = (): Required<HostFigures> => ({ cpus: 0, memoryMiB: 0, storageGiB: 0 });

export class VmsByHost {
  private readonly entries = new Map<string, Entry>();
  private readonly byHost = new Map<string, Map<string, Entry>>();
  private readonly sums = new Map<string, Required<HostFigures>>();

  /** Follows the informer (call before it starts, so the initial list is seen). */
  follow(informer: Informer<VmObject>): this {
    informer.on({ added: (vm) => this.put(vm), updated: (_old, vm) => this.put(vm), deleted: (vm) => this.remove(vmKey(vm)) });
    return this;
  }

  put(vm: VmObject): void {
    const key = vmKey(vm);
    this.remove(key);
    const host = vm.status?.host;
    if (!host) return;
    const d = vmDemand(vm);
    const entry: Entry = { vm, host, demand: { cpus: d.cpus, memoryMiB: d.memoryMiB, storageGiB: d.storageGiB ?? 0 } };
    this.entries.set(key, entry);
    let members = this.byHost.get(host);
    if (!members) this.byHost.set(host, (members = new Map<string, Entry>()));
    members.set(key, entry);
    this.add(host, entry.demand, 1);
  }

  remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const members = this.byHost.get(entry.host);
    members?.delete(key);
    if (members?.size === 0) this.byHost.delete(entry.host);
    this.add(entry.host, entry.demand, -1);
  }

  /** The host a VM is recorded on, if any. */
  hostOf(key: string): string | undefined {
    return this.entries.get(key)?.host;
  }

  /** The VMs recorded on host. */
  on(host: string): VmObject[] {
    return [...(this.byHost.get(host)?.values() ?? [])].map((e) => e.vm);
  }

  count(host: string): number {
    return this.byHost.get(host)?.size ?? 0;
  }

  /** Summed demand of the VMs on host. */
  demand(host: string): Required<HostFigures> {
    return { ...(this.sums.get(host) ?? zero()) };
  }

  /** A VM's demand as recorded (undefined when it is on no host). */
  demandOf(key: string): Required<HostFigures> | undefined {
    return this.entries.get(key)?.demand;
  }

  private add(host: string, d: Required<HostFigures>, sign: 1 | -1): void {
    const s = this.sums.get(host) ?? zero();
    s.cpus += sign * d.cpus;
    s.memoryMiB += sign * d.memoryMiB;
    s.storageGiB += sign * d.storageGiB;
    if (this.byHost.has(host)) this.sums.set(host, s);
    else this.sums.delete(host);
  }
}

/**
 * Placements this process made that the VM cache has not shown yet, with each host's summed
 * demand: placement reads them per host in O(1). (Walking them on every placement was quadratic
 * when 10,000 VMs were placed before the cache caught up.)
 */
export class Reservations {
  private readonly byKey = new Map<string, { host: string; demand: Required<HostFigures> }>();
  private readonly byHost = new Map<string, Set<string>>();
  private readonly sums = new Map<string, Required<HostFigures>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): string | undefined {
    return this.byKey.get(key)?.host;
  }

  set(key: string, host: string, vm: VmObject): void {
    this.delete(key);
    const d = vmDemand(vm);
    const demand = { cpus: d.cpus, memoryMiB: d.memoryMiB, storageGiB: d.storageGiB ?? 0 };
    this.byKey.set(key, { host, demand });
    let keys = this.byHost.get(host);
    if (!keys) this.byHost.set(host, (keys = new Set<string>()));
    keys.add(key);
    this.add(host, demand, 1);
  }

  delete(key: string): void {
    const entry = this.byKey.get(key);
    if (!entry) return;
    this.byKey.delete(key);
    const keys = this.byHost.get(entry.host);
    keys?.delete(key);
    if (keys?.size === 0) this.byHost.delete(entry.host);
    this.add(entry.host, entry.demand, -1);
  }

  /** Keys reserved on host. */
  on(host: string): string[] {
    return [...(this.byHost.get(host) ?? [])];
  }

  demand(host: string): Required<HostFigures> {
    return { ...(this.sums.get(host) ?? zero()) };
  }

  demandOf(key: string): Required<HostFigures> | undefined {
    return this.byKey.get(key)?.demand;
  }

  private add(host: string, d: Required<HostFigures>, sign: 1 | -1): void {
    const s = this.sums.get(host) ?? zero();
    s.cpus += sign * d.cpus;
    s.memoryMiB += sign * d.memoryMiB;
    s.storageGiB += sign * d.storageGiB;
    if (this.byHost.has(host)) this.sums.set(host, s);
    else this.sums.delete(host);
  }
}
