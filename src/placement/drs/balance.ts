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
import { applyMove, imbalance, type VmState } from "./state.ts";
import { nextChanges, openingChanges, openingPairs, place, type Band, type Change } from "./step.ts";

const eps = 1e-12;
/** Greedy runs from other first moves, per band. */
const restarts = 16;
/** …when the first run moves at most this many VMs. */
const restartsUpTo = 10;
/** …and from this many of the best pairs of moves. */
const pairRestarts = 16;

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
  if (b.origin.size <= restartsUpTo) for (const v of moved) if (b.origin.has(v.index)) dropWithRetarget(p, b, v);
}

/** Sends `v` home if another of the band's moves, sent elsewhere instead (no extra migration), keeps the pool at the target. */
function dropWithRetarget(p: Planning, b: Band, v: VmState): void {
  const home = b.origin.get(v.index)!;
  const away = v.host;
  if (p.moves.check(v, home) !== undefined) return;
  place(p, b, v, home);
  for (const i of [...b.origin.keys()].sort((x, y) => x - y)) {
    const w = p.pool.vms[i]!;
    for (const to of p.pool.hosts) {
      if (to.index === w.host || to.index === b.origin.get(i) || imbalanceIf(p, w, to.index) > b.target || p.moves.check(w, to.index) !== undefined) continue;
      place(p, b, w, to.index);
      return;
    }
  }
  place(p, b, v, away); // no re-target keeps the target: v stays moved
}

/**
 * Turns the search's placement into moves made one at a time: back to where the band started,
 * then the moves in the order the search first chose them, each once it is valid (one waiting
 * for room is tried again after the others). Moves that wait on each other (a swap between full
 * hosts) are left out, and the greedy search continues from there with real moves only.
 */
function sequence(p: Planning, b: Band): [number, number][] {
  p.pool.orderStale = true; // many moves at once: sort the load order again when next needed
  let pending: [number, number][] = [];
  for (const [i, home] of b.origin) {
    pending.push([i, p.pool.vms[i]!.host]);
    applyMove(p.pool, i, home);
  }
  b.origin.clear();
  const made: [number, number][] = [];
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    const waiting: [number, number][] = [];
    for (const [i, to] of pending) {
      const v = p.pool.vms[i]!;
      if (p.moves.check(v, to) !== undefined) {
        waiting.push([i, to]);
        continue;
      }
      place(p, b, v, to);
      made.push([i, to]);
      progress = true;
    }
    pending = waiting;
  }
  if (pending.length === 0) return made;
  b.sequential = true;
  while (imbalance(p.pool) > b.target) {
    const next = nextChanges(p, b);
    if (next === undefined) break;
    for (const c of next) {
      place(p, b, c.v, c.to);
      made.push([c.v.index, c.to]);
    }
  }
  b.sequential = false;
  return made;
}

/** Where one greedy run of a band ends: its moves in an order valid at every step, and what they cost. */
interface Run {
  moves: [number, number][];
  reached: boolean;
  gib: number;
  imbalance: number;
}

/** The greedy search from where the band starts (after `opening`); leaves the pool as it found it. */
function run(p: Planning, b: Band, opening: readonly Change[]): Run {
  b.origin.clear();
  b.width = undefined;
  for (const c of opening) place(p, b, c.v, c.to);
  let stuck = false;
  while (imbalance(p.pool) > b.target) {
    const next = nextChanges(p, b);
    if (next === undefined) {
      stuck = true;
      break;
    }
    for (const c of next) place(p, b, c.v, c.to);
  }
  if (!stuck || imbalance(p.pool) <= b.target) dropUnneeded(p, b);
  const moves = sequence(p, b);
  const after = imbalance(p.pool);
  const result = { moves, reached: after <= b.target, gib: moves.reduce((sum, [i]) => sum + p.pool.vms[i]!.gib, 0), imbalance: after };
  p.pool.orderStale = true;
  for (const [i, home] of b.origin) applyMove(p.pool, i, home);
  b.origin.clear();
  return result;
}

function preferred(a: Run, b: Run): boolean {
  if (a.reached !== b.reached) return a.reached;
  if (!a.reached && Math.abs(a.imbalance - b.imbalance) > eps) return a.imbalance < b.imbalance;
  if (a.moves.length !== b.moves.length) return a.moves.length < b.moves.length;
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
  let best = run(p, b, []);
  // One move more or less matters most in a short plan (and a long one is costly to repeat):
  // run again from each of the best first moves, and from the best pairs of them.
  if (best.moves.length <= restartsUpTo) {
    const firsts = openingChanges(p, b, restarts);
    for (const first of firsts) {
      const other = run(p, b, [first]);
      if (preferred(other, best)) best = other;
    }
    for (const pair of best.moves.length > 2 ? openingPairs(p, b, pairRestarts) : []) {
      const other = run(p, b, pair);
      if (preferred(other, best)) best = other;
    }
  }
  p.pool.orderStale = true;
  for (const [i, to] of best.moves) {
    if (p.full) break;
    const v = p.pool.vms[i]!;
    // Valid by construction; should placement's own filter still refuse one, the rest go on without it.
    if (p.moves.check(v, to) === undefined) p.commit(v, to, level, undefined);
  }
  return best.reached && imbalance(p.pool) <= target;
}
