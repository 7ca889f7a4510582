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
  /** CPU + memory load when the load order was last sorted. */
  load: number;
  /** Indexes of the VMs here now with Host affinity or anti-affinity (the ones a move can upset). */
  ruled: Set<number>;
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
  /** Has Host-topology affinity or anti-affinity terms. */
  ruled: boolean;
}

export interface PoolState {
  hosts: HostState[];
  vms: VmState[];
  hostByName: Map<string, number>;
  sums: LoadSums;
  /** Active hosts by load (read it through byLoad(pool)). */
  byLoad: HostState[];
  orderStale: boolean;
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
        ruled: new Set<number>(),
        load: 0,
        others: [] as PlacedVm[],
      };
    });
  const sorted = input.vms.map((vm) => ({ vm, key: vmKey(vm.request.vm) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const vms: VmState[] = [];
  for (const { vm, key } of sorted) {
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
      key,
      moved: false,
      ruled: [...(vm.request.affinity ?? []), ...(vm.request.antiAffinity ?? [])].some((t) => t.topology === "Host"),
    };
    vms.push(state);
    const h = hosts[host]!;
    h.vms.add(state.index);
    if (state.ruled) h.ruled.add(state.index);
    h.cpu += state.demandCpu;
    h.mem += state.demandMem;
  }
  // Usually a host lists exactly the input's VMs on it; only where it lists more are the others looked for.
  let known: Set<string> | undefined;
  for (const h of hosts) {
    if (h.host.vms.length <= h.vms.size) continue;
    known ??= new Set(vms.map((v) => v.key));
    h.others = h.host.vms.filter((vm) => !known!.has(vmKey(vm)));
  }
  const pool: PoolState = { hosts, vms, hostByName, sums: { n: 0, cpu: 0, cpu2: 0, mem: 0, mem2: 0 }, byLoad: [], orderStale: true };
  resum(pool);
  return pool;
}

/** Recomputes the load sums and the load order from the hosts. */
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
  pool.byLoad = pool.hosts.filter((h) => h.active);
  pool.orderStale = true;
}

/** A host's place in the load order: CPU and memory load summed (the pool's means do not change the order), ties by name. */
const loadKey = (h: HostState): number => cpuLoad(h) + memLoad(h);

/** Active hosts, least loaded first. */
export function byLoad(pool: PoolState): readonly HostState[] {
  if (pool.orderStale) {
    for (const h of pool.byLoad) h.load = loadKey(h);
    pool.byLoad.sort(inOrder);
    pool.orderStale = false;
  }
  return pool.byLoad;
}

const inOrder = (a: HostState, b: HostState): number => a.load - b.load || a.index - b.index;

/** Where `h` is, or belongs, in the load order (binary search on the loads the order was built with). */
function positionOf(order: readonly HostState[], h: HostState): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (inOrder(order[mid]!, h) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function imbalance(pool: PoolState): number {
  return imbalanceOf(pool.sums);
}

/** The pool's imbalance were VM `v` on host `t` (no allocation: this runs for every candidate move). */
export function imbalanceIf(pool: PoolState, v: VmState, t: number): number {
  const from = pool.hosts[v.host]!;
  const to = pool.hosts[t]!;
  if (!from.active || !to.active) return Number.POSITIVE_INFINITY;
  const s = pool.sums;
  const fc = from.host.allocatable.cpus;
  const fm = from.host.allocatable.memoryMiB;
  const tc = to.host.allocatable.cpus;
  const tm = to.host.allocatable.memoryMiB;
  const c0 = from.cpu / fc;
  const c1 = (from.cpu - v.demandCpu) / fc;
  const d0 = to.cpu / tc;
  const d1 = (to.cpu + v.demandCpu) / tc;
  const m0 = from.mem / fm;
  const m1 = (from.mem - v.demandMem) / fm;
  const e0 = to.mem / tm;
  const e1 = (to.mem + v.demandMem) / tm;
  const cpu = (s.cpu - c0 + c1 - d0 + d1) / s.n;
  const cpu2 = (s.cpu2 - c0 * c0 + c1 * c1 - d0 * d0 + d1 * d1) / s.n;
  const mem = (s.mem - m0 + m1 - e0 + e1) / s.n;
  const mem2 = (s.mem2 - m0 * m0 + m1 * m1 - e0 * e0 + e1 * e1) / s.n;
  return Math.sqrt((Math.max(0, cpu2 - cpu * cpu) + Math.max(0, mem2 - mem * mem)) / 2);
}

function shift(pool: PoolState, h: HostState, cpu: number, mem: number): void {
  if (!h.active) {
    h.cpu += cpu;
    h.mem += mem;
    return;
  }
  const order = pool.orderStale ? undefined : pool.byLoad;
  if (order !== undefined) order.splice(positionOf(order, h), 1);
  const s = pool.sums;
  const c0 = cpuLoad(h);
  const m0 = memLoad(h);
  h.cpu += cpu;
  h.mem += mem;
  const c1 = cpuLoad(h);
  const m1 = memLoad(h);
  s.cpu += c1 - c0;
  s.cpu2 += c1 * c1 - c0 * c0;
  s.mem += m1 - m0;
  s.mem2 += m1 * m1 - m0 * m0;
  if (order !== undefined) {
    h.load = loadKey(h);
    order.splice(positionOf(order, h), 0, h);
  }
}

/** Puts the VM on another host in the state: its allocation and demand leave its host for the target. (Planning tries placements this way; Planning.commit records a move.) */
export function applyMove(pool: PoolState, vmIndex: number, to: number): void {
  const v = pool.vms[vmIndex]!;
  const from = pool.hosts[v.host]!;
  const target = pool.hosts[to]!;
  const r = v.vm.request.vm.resources;
  from.vms.delete(vmIndex);
  from.ruled.delete(vmIndex);
  shift(pool, from, -v.demandCpu, -v.demandMem);
  from.allocated.cpus -= r.cpus;
  from.allocated.memoryMiB -= r.memoryMiB;
  from.allocated.storageGiB -= r.storageGiB;
  target.vms.add(vmIndex);
  if (v.ruled) target.ruled.add(vmIndex);
  shift(pool, target, v.demandCpu, v.demandMem);
  target.allocated.cpus += r.cpus;
  target.allocated.memoryMiB += r.memoryMiB;
  target.allocated.storageGiB += r.storageGiB;
  v.host = to;
}

/** The host as placement's filter sees it now: current allocation and VMs. */
export function candidateView(pool: PoolState, h: HostState): HostCandidate {
  const vms: PlacedVm[] = [...h.others];
  for (const i of h.vms) vms.push(pool.vms[i]!.vm.request.vm);
  return { ...h.host, allocated: { ...h.allocated }, vms };
}
