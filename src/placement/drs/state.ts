// The pool as the planner sees it while it plans: hosts by index with their VMs, allocations and
// demand loads, updated move by move (nothing is rescanned per candidate move).
import type { HostCandidate, PlacedVm, Resources } from "../types.ts";
import { imbalanceOf, type LoadSums } from "./imbalance.ts";
import type { DrsHost, DrsInput, DrsVm } from "./types.ts";

export interface HostState {
  index: number;
  host: DrsHost;
  /** Takes part in balancing: ready, not in maintenance, can live-migrate, has CPU and memory. Only these are sources, targets and counted in the imbalance. */
  active: boolean;
  /** Allocations of the VMs here now (the input's, then moved VMs in and out). */
  allocated: Resources;
  /** Demand of the VMs here now. */
  cpu: number;
  mem: number;
  /** Indexes of the VMs here now. */
  vms: Set<number>;
  /** VMs the host lists that are not in the plan's input (in-flight placements, stopped VMs): they never move but count for affinity. */
  others: PlacedVm[];
}

export interface VmState {
  index: number;
  vm: DrsVm;
  host: number;
  demandCpu: number;
  demandMem: number;
  /** Memory copied by a live migration, GiB (its allocation). */
  gib: number;
  /** "namespace/name", the tie-breaker everywhere. */
  key: string;
  moved: boolean;
}

export interface PoolState {
  hosts: HostState[];
  vms: VmState[];
  hostByName: Map<string, number>;
  sums: LoadSums;
}

export function cpuLoad(h: HostState, cpu = h.cpu): number {
  return h.host.allocatable.cpus > 0 ? cpu / h.host.allocatable.cpus : 0;
}

export function memLoad(h: HostState, mem = h.mem): number {
  return h.host.allocatable.memoryMiB > 0 ? mem / h.host.allocatable.memoryMiB : 0;
}

export function vmKey(vm: PlacedVm): string {
  return `${vm.namespace}/${vm.name}`;
}

export function buildState(input: DrsInput): PoolState {
  const hostByName = new Map<string, number>();
  const hosts: HostState[] = [...input.hosts]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((host, index) => {
      hostByName.set(host.name, index);
      return {
        index,
        host,
        active: host.ready && !host.maintenance && host.cannotMigrate === undefined && host.allocatable.cpus > 0 && host.allocatable.memoryMiB > 0,
        allocated: { ...host.allocated },
        cpu: 0,
        mem: 0,
        vms: new Set<number>(),
        others: [] as PlacedVm[],
      };
    });
  const sorted = [...input.vms].sort((a, b) => {
    const ka = vmKey(a.request.vm);
    const kb = vmKey(b.request.vm);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const vms: VmState[] = [];
  for (const vm of sorted) {
    const host = hostByName.get(vm.host);
    if (host === undefined) continue; // not on one of this pool's hosts: nothing to balance
    const r = vm.request.vm.resources;
    const state: VmState = {
      index: vms.length,
      vm,
      host,
      demandCpu: vm.demand?.cpus ?? r.cpus,
      demandMem: vm.demand?.memoryMiB ?? r.memoryMiB,
      gib: r.memoryMiB / 1024,
      key: vmKey(vm.request.vm),
      moved: false,
    };
    vms.push(state);
    const h = hosts[host]!;
    h.vms.add(state.index);
    h.cpu += state.demandCpu;
    h.mem += state.demandMem;
  }
  const known = new Set(vms.map((v) => v.key));
  for (const h of hosts) h.others = h.host.vms.filter((vm) => !known.has(vmKey(vm)));
  const pool: PoolState = { hosts, vms, hostByName, sums: { n: 0, cpu: 0, cpu2: 0, mem: 0, mem2: 0 } };
  resum(pool);
  return pool;
}

/** Recomputes the load sums from the hosts (after each move, so no rounding drift builds up). */
export function resum(pool: PoolState): void {
  const s: LoadSums = { n: 0, cpu: 0, cpu2: 0, mem: 0, mem2: 0 };
  for (const h of pool.hosts) {
    if (!h.active) continue;
    const c = cpuLoad(h);
    const m = memLoad(h);
    s.n++;
    s.cpu += c;
    s.cpu2 += c * c;
    s.mem += m;
    s.mem2 += m * m;
  }
  pool.sums = s;
}

export function imbalance(pool: PoolState): number {
  return imbalanceOf(pool.sums);
}

/** Makes a move in the state: the VM's allocation and demand leave its host for the target. */
export function applyMove(pool: PoolState, vmIndex: number, to: number): void {
  const v = pool.vms[vmIndex]!;
  const from = pool.hosts[v.host]!;
  const target = pool.hosts[to]!;
  const r = v.vm.request.vm.resources;
  from.vms.delete(vmIndex);
  from.cpu -= v.demandCpu;
  from.mem -= v.demandMem;
  from.allocated = { cpus: from.allocated.cpus - r.cpus, memoryMiB: from.allocated.memoryMiB - r.memoryMiB, storageGiB: from.allocated.storageGiB - r.storageGiB };
  target.vms.add(vmIndex);
  target.cpu += v.demandCpu;
  target.mem += v.demandMem;
  target.allocated = { cpus: target.allocated.cpus + r.cpus, memoryMiB: target.allocated.memoryMiB + r.memoryMiB, storageGiB: target.allocated.storageGiB + r.storageGiB };
  v.host = to;
  v.moved = true;
  resum(pool);
}

/** The host as placement's filter sees it now: current allocation and VMs. */
export function candidateView(pool: PoolState, h: HostState): HostCandidate {
  const vms: PlacedVm[] = [...h.others];
  for (const i of h.vms) vms.push(pool.vms[i]!.vm.request.vm);
  return { ...h.host, allocated: h.allocated, vms };
}
