// Priority 1, the moves every level makes: a VM that breaks its affinity / anti-affinity on its
// host goes where it breaks nothing, and a host allocated beyond its allocatable (capacity ×
// overcommit) sheds VMs until it is within it. Cheapest first (GiB moved), then the move that
// leaves the pool most balanced, then by name.
import type { Planning } from "./context.ts";
import { byLoad, imbalanceIf as imbalanceOfMove, type HostState, type VmState } from "./state.ts";

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
  return imbalanceOfMove(p.pool, v, t);
}

/** By how much, in fractions of allocatable, the host is allocated beyond it (0 = within). */
export function overage(h: HostState, less = { cpus: 0, memoryMiB: 0, storageGiB: 0 }): number {
  const a = h.host.allocatable;
  const over = (used: number, cap: number): number => (used > cap + 1e-9 ? (used - cap) / Math.max(cap, 1) : 0);
  return over(h.allocated.cpus - less.cpus, a.cpus) + over(h.allocated.memoryMiB - less.memoryMiB, a.memoryMiB) + over(h.allocated.storageGiB - less.storageGiB, a.storageGiB);
}

/** Up to this many active hosts, a mandatory move weighs every host; above, the idlest ones until this many take the VM. */
const allHostsUpTo = 24;
const enoughTargets = 16;

function bestTarget(p: Planning, v: VmState, why: string, best: Fix | undefined): Fix | undefined {
  // A VM that must join its group: only the hosts its group is on. Else the idlest hosts first.
  const members = p.rules.memberHosts(v);
  const order = members === undefined ? byLoad(p.pool) : [...members].sort((a, b) => a - b).map((i) => p.pool.hosts[i]!);
  let found = 0;
  for (const to of order) {
    if (order.length > allHostsUpTo && found >= enoughTargets) break;
    if (to.index === v.host || p.refused.has(p.pairKey(v, to.index)) || p.moves.check(v, to.index) !== undefined) continue;
    found++;
    const fix: Fix = { v, to: to.index, cost: v.gib, after: imbalanceIf(p, v, to.index), why };
    if (better(fix, best)) best = fix;
  }
  return best;
}

/** The fix for the next VM (smallest first, then by name) that breaks a rule where it is and may move; each VM is looked at once. */
function ruleFix(p: Planning, suspects: Set<number>, unfixed: number[]): Fix | undefined {
  for (const i of suspects) {
    suspects.delete(i);
    const v = p.pool.vms[i]!;
    const broken = p.rules.violation(v, p.pool.hosts[v.host]!);
    if (broken === undefined || v.moved) continue;
    if (v.vm.cannotMove !== undefined) {
      unfixed.push(i); // another VM's move may fix it; else reportUnfixed says why
      continue;
    }
    const fix = bestTarget(p, v, broken, undefined);
    if (fix !== undefined) return fix;
    unfixed.push(i);
  }
  return undefined;
}

/** VMs still breaking a rule once the fixes are made: say so. */
function reportUnfixed(p: Planning, unfixed: readonly number[]): void {
  for (const i of unfixed) {
    const v = p.pool.vms[i]!;
    const broken = p.rules.violation(v, p.pool.hosts[v.host]!);
    if (broken === undefined) continue;
    p.skipVm(v, v.vm.cannotMove !== undefined ? `breaks a rule (${broken}) but cannot move: ${v.vm.cannotMove}` : `breaks a rule (${broken}) and no host in the pool takes it without breaking another`);
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
  // Moves never make a rule break (Moves.check), so only VMs breaking one now can need a fix.
  const ruled = p.pool.vms.filter((v) => p.pool.hosts[v.host]!.active && p.rules.hasRules(v));
  const suspects = new Set(ruled.sort((a, b) => a.gib - b.gib || a.index - b.index).map((v) => v.index));
  const unfixed: number[] = [];
  while (!p.full) {
    const fix = ruleFix(p, suspects, unfixed) ?? overcommitFix(p);
    if (fix === undefined) {
      reportUnfixed(p, unfixed);
      return;
    }
    p.commit(fix.v, fix.to, 1, fix.why);
  }
}
