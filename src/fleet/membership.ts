// Which Hosts belong to a pool, and what a set of Hosts adds up to. A Host belongs to a pool of
// its own datacenter when the pool lists it, its labels match the pool's selector, or the Host's
// spec.pool names the pool. Sums come from the Hosts' status, so they follow what was observed.
import { matches } from "../placement/labels.ts";
import { resourcesOf, type HostFigures } from "./demand.ts";
import type { HostObject, HostPoolObject } from "./kinds.ts";
import { toGiB, toMiB } from "../api/quantity.ts";

export function poolMembers(pool: HostPoolObject, hosts: readonly HostObject[]): HostObject[] {
  const name = pool.metadata.name;
  const listed = new Set(pool.spec.hosts ?? []);
  const selector = pool.spec.hostSelector;
  return hosts
    .filter((h) => h.spec.datacenter === pool.spec.datacenter)
    .filter((h) => listed.has(h.metadata.name) || h.spec.pool === name || (selector !== undefined && matches(selector, h.metadata.labels ?? {})))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export function isReady(host: HostObject): boolean {
  return host.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

type Figures = NonNullable<NonNullable<HostObject["status"]>["capacity"]>;

function sum(list: (Figures | undefined)[]): ReturnType<typeof resourcesOf> {
  const total = list.reduce<Required<HostFigures>>(
    (acc, r) => ({ cpus: acc.cpus + (r?.cpus ?? 0), memoryMiB: acc.memoryMiB + toMiB(r?.memory), storageGiB: acc.storageGiB + toGiB(r?.storage) }),
    { cpus: 0, memoryMiB: 0, storageGiB: 0 },
  );
  return resourcesOf(total);
}

export interface Aggregate {
  hosts: number;
  readyHosts: number;
  virtualMachines: number;
  capacity: ReturnType<typeof resourcesOf>;
  allocatable: ReturnType<typeof resourcesOf>;
  allocated: ReturnType<typeof resourcesOf>;
}

/**
 * Sums over the hosts' status. The VM count is the hosts' managed VMs as they report them, so pools
 * and datacenters need no cache of VirtualMachines (at 10,000 VMs each such cache cost memory, and
 * every VM change re-reconciled every pool).
 */
export function aggregate(hosts: readonly HostObject[]): Aggregate {
  return {
    hosts: hosts.length,
    readyHosts: hosts.filter(isReady).length,
    virtualMachines: hosts.reduce((n, h) => n + (h.status?.virtualMachines?.managed ?? 0), 0),
    capacity: sum(hosts.map((h) => h.status?.capacity)),
    allocatable: sum(hosts.map((h) => h.status?.allocatable)),
    allocated: sum(hosts.map((h) => h.status?.allocated)),
  };
}
