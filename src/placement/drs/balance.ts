// Balancing moves for one level's band (ADR 0041). Greedy, in the space of placements: each step
// puts one VM on another host, choosing
//   1. a free improvement first — a VM this band already moves goes to a better host instead (still
//      one migration) or back home (one fewer),
//   2. else, when one more move brings the pool to the target, the cheapest such move,
//   3. else the move that lowers the imbalance most per GiB moved (a live migration copies the
//      VM's memory; a fixed part per move — the pool's mean VM memory — stands for the switch-over
//      and the migration slot it takes, so size counts but a move is never free);
// until the pool is at the target or nothing gains. Then moves that are no longer needed are
// dropped (largest first) and the rest are ordered so that each is valid when it is made.
// When no single move gains, or two moves would finish where one does not, the step looks two
// moves ahead (step.ts). Candidates come from the busiest and the idlest hosts only, so a step
// costs about the same at 10 hosts or 1,000. VMs moved in an earlier band stay where it put them.
import type { Planning } from "./context.ts";
import { imbalanceIf } from "./mandatory.ts";
import { applyMove, imbalance } from "./state.ts";
import { nextChanges, openingChanges, place, type Band, type Change } from "./step.ts";

const eps = 1e-12;
/** Greedy runs from other first moves, per band. */
const restarts = 6;
/** …when the first run moves at most this many VMs. */
const restartsUpTo = 10;

/** The fixed part of a move's cost, in GiB: the pool's mean VM memory. */
export function fixedCost(p: Planning): number {
  const vms = p.pool.vms;
  if (vms.length === 0) return 1;
  return vms.reduce((sum, v) => sum + v.gib, 0) / vms.length;
}

/** Sends home, largest first, the VMs the pool no longer needs moved to stay at the target. */
function dropUnneeded(p: Planning, b: Band): void {
  const moved = [...b.origin.keys()].map((i) => p.pool.vms[i]!).sort((x, y) => y.gib - x.gib || (x.key < y.key ? -1 : 1));
  for (const v of moved) {
    const home = b.origin.get(v.index)!;
    if (imbalanceIf(p, v, home) <= b.target && p.moves.check(v, home) === undefined) place(p, b, v, home);
  }
}

/** Back to where the band started, then the band's moves one by one in the order the search first chose them, each when it is valid (a move waiting for room is tried again after the others). */
function commitInOrder(p: Planning, b: Band, level: 2 | 3 | 4 | 5): void {
  let pending: [number, number][] = [];
  for (const [i, home] of b.origin) {
    pending.push([i, p.pool.vms[i]!.host]);
    applyMove(p.pool, i, home);
  }
  b.origin.clear();
  let progress = true;
  while (pending.length > 0 && progress && !p.full) {
    progress = false;
    const waiting: [number, number][] = [];
    for (const [i, to] of pending) {
      const v = p.pool.vms[i]!;
      if (p.full || p.moves.check(v, to) !== undefined || !p.commit(v, to, level, undefined)) waiting.push([i, to]);
      else progress = true;
    }
    pending = waiting;
  }
}

/** Where one greedy run of a band ends: each moved VM's new host, and what that costs. */
interface Run {
  finals: Map<number, number>;
  reached: boolean;
  gib: number;
  imbalance: number;
}

/** The greedy search from where the band starts (after `first`, if given); leaves the pool as it found it. */
function run(p: Planning, b: Band, first: Change | undefined): Run {
  b.origin.clear();
  if (first !== undefined) place(p, b, first.v, first.to);
  let stuck = false;
  while (imbalance(p.pool) > b.target) {
    const next = nextChanges(p, b);
    if (next === undefined) {
      stuck = true;
      break;
    }
    for (const c of next) place(p, b, c.v, c.to);
  }
  const reached = !stuck || imbalance(p.pool) <= b.target;
  if (reached) dropUnneeded(p, b);
  const finals = new Map<number, number>();
  let gib = 0;
  for (const i of b.origin.keys()) {
    finals.set(i, p.pool.vms[i]!.host);
    gib += p.pool.vms[i]!.gib;
  }
  const result = { finals, reached, gib, imbalance: imbalance(p.pool) };
  for (const [i, home] of b.origin) applyMove(p.pool, i, home);
  b.origin.clear();
  return result;
}

function preferred(a: Run, b: Run): boolean {
  if (a.reached !== b.reached) return a.reached;
  if (!a.reached && Math.abs(a.imbalance - b.imbalance) > eps) return a.imbalance < b.imbalance;
  if (a.finals.size !== b.finals.size) return a.finals.size < b.finals.size;
  return a.gib < b.gib - eps;
}

/**
 * Moves (priority `level`) that bring the pool to `target`, appended to the plan. The greedy run
 * is repeated from each of the few best first moves, and the run that gets there with the fewest
 * moves (then GiB) is kept. False when the pool cannot get there: later bands need not try.
 */
export function planBand(p: Planning, level: 2 | 3 | 4 | 5, target: number, fixed: number): boolean {
  const b: Band = { target, fixed, origin: new Map(), budget: p.maxMoves - p.recommendations.length };
  if (imbalance(p.pool) <= target || b.budget <= 0) return imbalance(p.pool) <= target;
  let best = run(p, b, undefined);
  // One move more or less matters most in a short plan (and a long one is costly to repeat).
  if (best.finals.size <= restartsUpTo) for (const first of openingChanges(p, b, restarts)) {
    const other = run(p, b, first);
    if (preferred(other, best)) best = other;
  }
  for (const [i, to] of best.finals) place(p, b, p.pool.vms[i]!, to);
  commitInOrder(p, b, level);
  return best.reached && imbalance(p.pool) <= target;
}
