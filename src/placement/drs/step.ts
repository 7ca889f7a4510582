// One step of a band's greedy search (see balance.ts): the next change, or the next few when one
// is not enough — the pool sits in a dip no single move climbs out of, or two moves finish the
// band where the best single one does not. Looking ahead is what keeps the plan near the fewest
// moves (optimal.test.ts); it is bounded to the best few first moves at each depth.
import type { Planning } from "./context.ts";
import { minGain } from "./imbalance.ts";
import { imbalanceIf } from "./mandatory.ts";
import { applyMove, byLoad, imbalance, type HostState, type VmState } from "./state.ts";

/** Up to this many active hosts, every host is a source and a target; above, the busiest and the idlest this many. */
const allHostsUpTo = 24;
const candidateHosts = 4;
/** …widened ×4 at a time up to this many when the few have no move that gains. */
const widest = 64;
/** …for sources; targets stop at this many (the idlest are the best targets anyway). */
const widestTargets = 8;
/** First moves tried when looking two moves ahead. */
const firstMoves = 12;
const eps = 1e-12;

export interface Change {
  v: VmState;
  to: number;
  after: number;
  gain: number;
  /** Migration cost this change adds, in GiB (≤ 0: it re-targets or undoes one of this band's moves). */
  cost: number;
  /** Reaches the band's target. */
  finishes: boolean;
  /** Ties: VM then host, by name (VMs and hosts are indexed in name order). */
  tie: number;
}

export interface Band {
  target: number;
  /** The fixed part of a move's cost, GiB. */
  fixed: number;
  /** Host each VM this band moves came from. */
  origin: Map<number, number>;
  /** How many VMs the band may move (maxMoves). */
  budget: number;
  /** Moves are made as found: a VM already moved stays where it went (no re-targets). */
  sequential?: boolean;
  /** How many of the busiest and idlest hosts the last step needed (it starts there: once the few are done, they stay done). */
  width?: number;
}

function rank(c: Change): number {
  if (c.cost <= 0) return 0;
  return c.finishes ? 1 : 2;
}

/** Free improvements, then the cheapest change that finishes, then the most gain per GiB; ties by name. */
export function better(a: Change, b: Change | undefined): boolean {
  if (b === undefined) return true;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb;
  if (ra === 0 && Math.abs(a.gain - b.gain) > eps) return a.gain > b.gain;
  if (ra === 1) {
    if (Math.abs(a.cost - b.cost) > eps) return a.cost < b.cost;
    if (Math.abs(a.after - b.after) > eps) return a.after < b.after;
  }
  if (ra === 2 && Math.abs(a.gain / a.cost - b.gain / b.cost) > eps) return a.gain / a.cost > b.gain / b.cost;
  return a.tie < b.tie;
}

/** Busiest hosts (sources) and idlest (targets) by their loads above the pool's mean, CPU and memory summed. */
function candidateHostsOf(p: Planning, width: number): { sources: readonly HostState[]; targets: readonly HostState[] } {
  const order = byLoad(p.pool);
  if (order.length <= allHostsUpTo) return { sources: order, targets: order };
  // Busiest hosts with a VM that may move; idlest hosts with room for the smallest VM.
  const sources: HostState[] = [];
  for (let i = order.length - 1; i >= 0 && sources.length < width; i--) if (hasMovable(p, order[i]!)) sources.push(order[i]!);
  const targets: HostState[] = [];
  const need = p.smallest;
  for (let i = 0; i < order.length && targets.length < Math.min(width, widestTargets); i++) {
    const h = order[i]!;
    const a = h.host.allocatable;
    const ha = h.host.haReserved;
    if (a.cpus - h.allocated.cpus - (ha?.cpus ?? 0) >= need.cpus && a.memoryMiB - h.allocated.memoryMiB - (ha?.memoryMiB ?? 0) >= need.memoryMiB) targets.push(h);
  }
  return { sources, targets };
}

function hasMovable(p: Planning, h: HostState): boolean {
  for (const i of h.vms) {
    const v = p.pool.vms[i]!;
    if (!v.moved && v.vm.cannotMove === undefined) return true;
  }
  return false;
}

function costOf(b: Band, v: VmState, to: number): number {
  const home = b.origin.get(v.index);
  if (home === undefined) return v.gib + b.fixed;
  return to === home ? -(v.gib + b.fixed) : 0;
}

/**
 * Calls `visit` with every change the step may weigh (validity not yet checked), from `now`. The
 * object passed is reused from call to call: copy it to keep it (this runs for thousands of
 * candidates per step).
 */
function eachChange(p: Planning, b: Band, now: number, visit: (c: Change) => void, width = candidateHosts): void {
  const { sources, targets } = candidateHostsOf(p, width);
  const hosts = p.pool.hosts.length;
  const c: Change = { v: p.pool.vms[0]!, to: 0, after: 0, gain: 0, cost: 0, finishes: false, tie: 0 };
  const add = (v: VmState, to: HostState): void => {
    if (to.index === v.host) return;
    const cost = costOf(b, v, to.index);
    if (cost > 0 && b.origin.size >= b.budget) return;
    const after = imbalanceIf(p, v, to.index);
    c.v = v;
    c.to = to.index;
    c.after = after;
    c.gain = now - after;
    c.cost = cost;
    c.finishes = after <= b.target;
    c.tie = v.index * hosts + to.index;
    visit(c);
  };
  for (const from of sources) {
    for (const i of from.vms) {
      const v = p.pool.vms[i]!;
      if (v.moved || (b.sequential === true && b.origin.has(i))) continue;
      for (const to of targets) add(v, to);
      const home = b.origin.get(i);
      if (home !== undefined && !targets.includes(p.pool.hosts[home]!)) add(v, p.pool.hosts[home]!);
    }
  }
}

/** The `k` allowed changes with the largest gain from here, of VMs that may move. */
function topByGain(p: Planning, b: Band, k: number): Change[] {
  const all: Change[] = [];
  eachChange(p, b, imbalance(p.pool), (c) => {
    if (c.v.vm.cannotMove === undefined) all.push({ ...c });
  });
  const out: Change[] = [];
  for (const c of all.sort((x, y) => y.gain - x.gain || x.tie - y.tie)) {
    if (out.length >= k) break;
    if (allowed(p, c)) out.push(c);
  }
  return out;
}

const allowed = (p: Planning, c: Change): boolean => p.moves.check(c.v, c.to) === undefined;

/** Puts the VM on the host in the state, keeping the band's origins. */
export function place(p: Planning, b: Band, v: VmState, to: number): void {
  if (!b.origin.has(v.index)) b.origin.set(v.index, v.host);
  applyMove(p.pool, v.index, to);
  if (b.origin.get(v.index) === to) b.origin.delete(v.index);
}

/** The `k` best pairs of changes from here, judged as one: where the band's later restarts begin. */
export function openingPairs(p: Planning, b: Band, k: number): Change[][] {
  const all: { moves: Change[]; joint: Change }[] = [];
  lookAhead(p, b, imbalance(p.pool), 2, all);
  return all.sort((x, y) => (better(x.joint, y.joint) ? -1 : better(y.joint, x.joint) ? 1 : 0)).slice(0, k).map((x) => x.moves);
}

/** The `k` allowed changes with the largest gain from here (VMs that may move): where the band's restarts begin. */
export function openingChanges(p: Planning, b: Band, k: number): Change[] {
  return topByGain(p, b, k);
}

/** Looks `depth` (2 or 3) changes ahead from the few best first ones: the best sequence judged as one (gain and cost of all). */
function lookAhead(p: Planning, b: Band, now: number, depth: number, all?: { moves: Change[]; joint: Change }[]): { moves: Change[]; joint: Change } | undefined {
  const floor = minGain(p.pool.sums.n);
  const ties = p.pool.vms.length * p.pool.hosts.length;
  let best: { moves: Change[]; joint: Change } | undefined;
  for (const first of topByGain(p, b, depth === 2 ? firstMoves : firstMoves / 2)) {
    const from = first.v.host;
    const home = b.origin.get(first.v.index);
    place(p, b, first.v, first.to);
    if (depth === 2) {
      eachChange(p, b, imbalance(p.pool), (second) => {
        if (second.v === first.v || second.v.vm.cannotMove !== undefined) return;
        const joint: Change = { ...second, gain: now - second.after, cost: first.cost + second.cost, tie: first.tie * ties + second.tie };
        if (all !== undefined && joint.gain >= floor && allowed(p, second)) all.push({ moves: [first, { ...second }], joint });
        else if (joint.gain >= floor && better(joint, best?.joint) && allowed(p, second)) best = { moves: [first, { ...second }], joint };
      });
    } else {
      const rest = lookAhead(p, b, now, depth - 1);
      const joint = rest && { ...rest.joint, cost: first.cost + rest.joint.cost, tie: first.tie * ties + rest.joint.tie };
      if (rest !== undefined && joint !== undefined && !rest.moves.some((m) => m.v === first.v) && better(joint, best?.joint)) best = { moves: [first, ...rest.moves], joint };
    }
    applyMove(p.pool, first.v.index, from);
    if (home === undefined) b.origin.delete(first.v.index);
    else b.origin.set(first.v.index, home);
  }
  return best;
}

/** The next change or two, or undefined when nothing gains enough. Reports the VMs that cannot move but whose move would have lowered the imbalance. */
export function nextChanges(p: Planning, b: Band): Change[] | undefined {
  const now = imbalance(p.pool);
  let best: Change | undefined;
  let most = Number.NEGATIVE_INFINITY;
  const floor = minGain(p.pool.sums.n);
  // The busiest and idlest few hosts first; only when none of their VMs can move, more of them.
  let width = b.width ?? candidateHosts;
  for (; best === undefined && width <= widest; width *= 4) {
    eachChange(
      p,
      b,
      now,
      (c) => {
        most = Math.max(most, c.gain);
        if (!(c.gain >= floor)) return;
        if (c.v.vm.cannotMove !== undefined) {
          if (!p.isSkipped(c.v) && allowed(p, c)) p.skipVm(c.v, `moving it would help balance the pool, but it cannot move: ${c.v.vm.cannotMove}`);
        } else if (better(c, best) && allowed(p, c)) {
          best = { ...c };
        }
      },
      width,
    );
    if (best !== undefined) b.width = width;
    if (byLoad(p.pool).length <= Math.max(allHostsUpTo, width)) break; // every host was a source
  }
  if (best !== undefined && (best.finishes || best.cost <= 0)) return [best];
  // Two moves may do what one cannot: when stuck, or when two of the biggest gains would finish.
  if (best === undefined || 2 * most >= now - b.target) {
    const pair = lookAhead(p, b, now, 2);
    if (pair !== undefined && (best === undefined || pair.joint.finishes)) return pair.moves;
  }
  if (best !== undefined) return [best];
  // Stuck above a target: three or four moves may climb out where one or two cannot.
  if (b.target <= 0) return undefined;
  return (lookAhead(p, b, now, 3) ?? lookAhead(p, b, now, 4))?.moves;
}
