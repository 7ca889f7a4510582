// Priority 1, the moves every level makes: a VM that breaks its affinity / anti-affinity on its
// host goes where it breaks nothing, and a host allocated beyond its allocatable (capacity ×
// overcommit) sheds VMs until it is within it. Cheapest first (GiB moved), then the move that
// leaves the pool most balanced, then by name.
import { imbalanceAfter } from "./imbalance.ts";
import type { Planning } from "./context.ts";
import { cpuLoad, memLoad, type HostState, type VmState } from "./state.ts";

interface Fix {
  v: VmState;
  to: number;
  cost: number;
  after: number;
  why: string;
}

const better = (a: Fix, b: Fix | undefined): boolean => {
  if (b === undefined) return true;
  if (a.cost !== b.cost) return a.cost < b.cost;
  if (Math.abs(a.after - b.after) > 1e-12) return a.after < b.after;
  if (a.v.key !== b.v.key) return a.v.key < b.v.key;
  return a.to < b.to;
};

/** The pool's imbalance were `v` on host `t`. */
export function imbalanceIf(p: Planning, v: VmState, t: number): number {
  const from = p.pool.hosts[v.host]!;
  const to = p.pool.hosts[t]!;
  const s = p.pool.sums;
  if (!from.active || !to.active) return Number.POSITIVE_INFINITY;
  return imbalanceAfter(
    s,
    { cpu0: cpuLoad(from), mem0: memLoad(from), cpu1: cpuLoad(from, from.cpu - v.demandCpu), mem1: memLoad(from, from.mem - v.demandMem) },
    { cpu0: cpuLoad(to), mem0: memLoad(to), cpu1: cpuLoad(to, to.cpu + v.demandCpu), mem1: memLoad(to, to.mem + v.demandMem) },
  );
}

/** By how much, in fractions of allocatable, the host is allocated beyond it (0 = within). */
export function overage(h: HostState, less = { cpus: 0, memoryMiB: 0, storageGiB: 0 }): number {
  const a = h.host.allocatable;
  const over = (used: number, cap: number): number => (used > cap + 1e-9 ? (used - cap) / Math.max(cap, 1) : 0);
  return over(h.allocated.cpus - less.cpus, a.cpus) + over(h.allocated.memoryMiB - less.memoryMiB, a.memoryMiB) + over(h.allocated.storageGiB - less.storageGiB, a.storageGiB);
}

function bestTarget(p: Planning, v: VmState, why: string, best: Fix | undefined): Fix | undefined {
  for (const to of p.pool.hosts) {
    if (!to.active || to.index === v.host || p.refused.has(p.pairKey(v, to.index))) continue;
    const fix: Fix = { v, to: to.index, cost: v.gib, after: imbalanceIf(p, v, to.index), why };
    if (!better(fix, best)) continue;
    if (p.moves.check(v, to.index) === undefined) best = fix;
  }
  return best;
}

function ruleFix(p: Planning): Fix | undefined {
  let best: Fix | undefined;
  for (const v of p.pool.vms) {
    const from = p.pool.hosts[v.host]!;
    if (v.moved || !from.active || !p.rules.hasRules(v)) continue;
    const broken = p.rules.violations(v, from);
    if (broken.length === 0) continue;
    if (v.vm.cannotMove !== undefined) {
      p.skipVm(v, `breaks a rule (${broken[0]}) but cannot move: ${v.vm.cannotMove}`);
      continue;
    }
    const fix = bestTarget(p, v, broken[0]!, undefined);
    if (fix !== undefined && better(fix, best)) best = fix;
  }
  return best;
}

/** VMs still breaking a rule once the fixes are made: say so. */
function reportUnfixed(p: Planning): void {
  for (const v of p.pool.vms) {
    const from = p.pool.hosts[v.host]!;
    if (!from.active || !p.rules.hasRules(v)) continue;
    const broken = p.rules.violations(v, from);
    if (broken.length > 0) p.skipVm(v, `breaks a rule (${broken[0]}) and no host in the pool takes it without breaking another`);
  }
}

function overcommitFix(p: Planning): Fix | undefined {
  for (const from of p.pool.hosts) {
    if (!from.active) continue;
    const over = overage(from);
    if (over === 0) continue;
    let best: Fix | undefined;
    let bestGain = 0;
    for (const i of from.vms) {
      const v = p.pool.vms[i]!;
      if (v.moved) continue;
      const gain = over - overage(from, v.vm.request.vm.resources);
      if (gain <= 0) continue;
      if (v.vm.cannotMove !== undefined) {
        p.skipVm(v, `${from.host.name} is allocated beyond its allocatable but this VM cannot move: ${v.vm.cannotMove}`);
        continue;
      }
      // Most overage removed per GiB moved; then as for rule fixes.
      const score = gain / (v.gib + 1);
      if (best !== undefined && score < bestGain - 1e-12) continue;
      const a = from.host.allocatable;
      const why = `${from.host.name} is allocated beyond its allocatable (CPU ${from.allocated.cpus}/${a.cpus}, memory ${from.allocated.memoryMiB}/${a.memoryMiB} MiB)`;
      const fix = bestTarget(p, v, why, score > bestGain + 1e-12 ? undefined : best);
      if (fix !== undefined && fix !== best) {
        best = fix;
        bestGain = score;
      }
    }
    if (best !== undefined) return best;
  }
  return undefined;
}

/** Adds the mandatory moves (priority 1) to the plan. */
export function planMandatory(p: Planning): void {
  while (!p.full) {
    const fix = ruleFix(p) ?? overcommitFix(p);
    if (fix === undefined) {
      reportUnfixed(p);
      return;
    }
    p.commit(fix.v, fix.to, 1, fix.why);
  }
}
