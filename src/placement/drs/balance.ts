// Balancing moves, greedy: each step takes the move that lowers the imbalance most per GiB moved
// (a live migration copies the VM's memory; a fixed part per move stands for the switch-over and
// the migration slot it takes). When one move is enough to bring the pool to the level's target,
// the cheapest such move wins instead (a best-per-GiB step that falls short would cost a second
// move). Candidates come from the busiest and the idlest hosts only, so a step costs the same at
// 10 hosts or 1,000. A VM moves at most once per plan.
import { minGain } from "./imbalance.ts";
import type { Planning } from "./context.ts";
import { imbalanceIf } from "./mandatory.ts";
import { cpuLoad, memLoad, type HostState, type VmState } from "./state.ts";

/** Up to this many active hosts, every host is a source and a target; above, the busiest and the idlest this many. */
const allHostsUpTo = 24;
const candidateHosts = 8;

interface Candidate {
  v: VmState;
  to: number;
  after: number;
  gain: number;
  cost: number;
  /** Reaches the level's target in this one move. */
  finishes: boolean;
}

function better(a: Candidate, b: Candidate | undefined): boolean {
  if (b === undefined) return true;
  if (a.finishes !== b.finishes) return a.finishes;
  if (a.finishes) {
    if (Math.abs(a.cost - b.cost) > 1e-12) return a.cost < b.cost;
    if (Math.abs(a.after - b.after) > 1e-12) return a.after < b.after;
  } else {
    const sa = a.gain / a.cost;
    const sb = b.gain / b.cost;
    if (Math.abs(sa - sb) > 1e-12) return sa > sb;
  }
  if (a.v.key !== b.v.key) return a.v.key < b.v.key;
  return a.to < b.to;
}

/** Busiest hosts (sources) and idlest (targets) by their loads above the pool's mean, CPU and memory summed. */
function candidates(p: Planning): { sources: HostState[]; targets: HostState[] } {
  const active = p.pool.hosts.filter((h) => h.active);
  if (active.length <= allHostsUpTo) return { sources: active, targets: active };
  const s = p.pool.sums;
  const mc = s.cpu / s.n;
  const mm = s.mem / s.n;
  const dev = (h: HostState): number => cpuLoad(h) - mc + memLoad(h) - mm;
  const ranked = active.map((h) => ({ h, d: dev(h) })).sort((a, b) => b.d - a.d || a.h.index - b.h.index);
  return { sources: ranked.slice(0, candidateHosts).map((x) => x.h), targets: ranked.slice(-candidateHosts).map((x) => x.h) };
}

/** The fixed part of a move's cost, in GiB: the mean VM's memory, so size still counts but a move is never free. */
export function fixedCost(p: Planning): number {
  const vms = p.pool.vms;
  if (vms.length === 0) return 1;
  return vms.reduce((sum, v) => sum + v.gib, 0) / vms.length;
}

/** One step's search: the pool's imbalance now, the level's target, the fixed cost, and the best moves found so far. */
interface Step {
  now: number;
  target: number;
  fixed: number;
  best?: Candidate;
  blocked?: Candidate;
}

function consider(p: Planning, b: Step, v: VmState, to: HostState): void {
  const { now, target, fixed } = b;
  if (to.index === v.host || p.refused.has(p.pairKey(v, to.index))) return;
  const after = imbalanceIf(p, v, to.index);
  const gain = now - after;
  if (!(gain >= minGain)) return;
  const c: Candidate = { v, to: to.index, after, gain, cost: v.gib + fixed, finishes: after <= target };
  if (v.vm.cannotMove !== undefined) {
    if (better(c, b.blocked) && p.moves.check(v, to.index) === undefined) b.blocked = c;
  } else if (better(c, b.best) && p.moves.check(v, to.index) === undefined) {
    b.best = c;
  }
}

/** The next balancing move towards `target`, or undefined when none gains enough. */
export function nextMove(p: Planning, now: number, target: number, fixed: number): Candidate | undefined {
  const { sources, targets } = candidates(p);
  const b: Step = { now, target, fixed };
  for (const from of sources) {
    for (const i of from.vms) {
      const v = p.pool.vms[i]!;
      if (v.moved) continue;
      for (const to of targets) consider(p, b, v, to);
    }
  }
  if (b.blocked !== undefined && better(b.blocked, b.best)) p.skipVm(b.blocked.v, `moving it would balance the pool best, but it cannot move: ${b.blocked.v.vm.cannotMove}`);
  return b.best;
}
