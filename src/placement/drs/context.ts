// What one planning pass carries: the pool state, the rule and move checks, and the plan so far.
import { show } from "./imbalance.ts";
import { Moves } from "./moves.ts";
import { Rules } from "./rules.ts";
import { applyMove, buildState, cpuLoad, imbalance, memLoad, type PoolState, type VmState } from "./state.ts";
import type { DrsInput, Recommendation, Skipped } from "./types.ts";

const pct = (x: number): string => `${Math.round(x * 100)}%`;

export class Planning {
  readonly pool: PoolState;
  readonly rules: Rules;
  readonly moves: Moves;
  readonly recommendations: Recommendation[] = [];
  readonly skipped: Skipped[] = [];
  readonly maxMoves: number;
  /** The pool's imbalance before any move. */
  readonly start: number;
  /** The least CPU and the least memory any VM of the pool asks for: a host with less free takes no move. */
  readonly smallest: { cpus: number; memoryMiB: number };
  /** (VM, host) pairs placement's own filter refused although the fast check allowed them. */
  readonly refused = new Set<number>();
  private readonly skippedVms = new Set<number>();
  /** Undo logs: the committed moves (VM, host it left) and the VMs skipped, in order. */
  private readonly made: { vm: number; from: number }[] = [];
  private readonly skippedOrder: number[] = [];

  constructor(input: DrsInput) {
    this.pool = buildState(input);
    this.rules = new Rules(this.pool);
    this.moves = new Moves(this.pool, this.rules);
    this.maxMoves = input.maxMoves ?? Number.POSITIVE_INFINITY;
    this.start = imbalance(this.pool);
    let cpus = Number.POSITIVE_INFINITY;
    let memoryMiB = Number.POSITIVE_INFINITY;
    for (const v of this.pool.vms) {
      cpus = Math.min(cpus, v.vm.request.vm.resources.cpus);
      memoryMiB = Math.min(memoryMiB, v.vm.request.vm.resources.memoryMiB);
    }
    this.smallest = { cpus, memoryMiB };
  }

  get full(): boolean {
    return this.recommendations.length >= this.maxMoves;
  }

  pairKey(v: VmState, t: number): number {
    return v.index * this.pool.hosts.length + t;
  }

  /** Checks the move with placement's filter, then makes it and records it. False when the filter refused (the pair is remembered). */
  commit(v: VmState, t: number, priority: Recommendation["priority"], why: string | undefined): boolean {
    const refusal = this.moves.confirm(v, t);
    if (refusal !== undefined) {
      this.refused.add(this.pairKey(v, t));
      return false;
    }
    const from = this.pool.hosts[v.host]!;
    const to = this.pool.hosts[t]!;
    const before = imbalance(this.pool);
    const loads = (h: typeof from): [number, number] => [cpuLoad(h), memLoad(h)];
    const [fc, fm] = loads(from);
    this.made.push({ vm: v.index, from: v.host });
    applyMove(this.pool, v.index, t);
    v.moved = true;
    const after = imbalance(this.pool);
    const [fc2, fm2] = loads(from);
    const reason = why ?? `CPU+memory imbalance ${show(before)} → ${show(after)} (${from.host.name}: CPU ${pct(fc)} → ${pct(fc2)}, memory ${pct(fm)} → ${pct(fm2)})`;
    const vm = v.vm.request.vm;
    this.recommendations.push({ vm: { namespace: vm.namespace, name: vm.name }, from: from.host.name, to: to.host.name, priority, reason, imbalanceAfter: after });
    return true;
  }

  isSkipped(v: VmState): boolean {
    return this.skippedVms.has(v.index);
  }

  skipVm(v: VmState, reason: string): void {
    if (this.skippedVms.has(v.index)) return;
    this.skippedVms.add(v.index);
    this.skippedOrder.push(v.index);
    const vm = v.vm.request.vm;
    this.skipped.push({ vm: { namespace: vm.namespace, name: vm.name }, reason });
  }

  /** Where the plan stands now, to come back to (rollback). */
  mark(): Mark {
    return { made: this.made.length, recommendations: this.recommendations.length, skipped: this.skipped.length, skippedVms: this.skippedOrder.length };
  }

  /** Undoes every move and skip since the mark. */
  rollback(m: Mark): void {
    this.pool.orderStale = true;
    while (this.made.length > m.made) {
      const { vm, from } = this.made.pop()!;
      applyMove(this.pool, vm, from);
      this.pool.vms[vm]!.moved = false;
    }
    while (this.skippedOrder.length > m.skippedVms) this.skippedVms.delete(this.skippedOrder.pop()!);
    this.recommendations.length = m.recommendations;
    this.skipped.length = m.skipped;
    this.refused.clear();
  }
}

export interface Mark {
  made: number;
  recommendations: number;
  skipped: number;
  skippedVms: number;
}
