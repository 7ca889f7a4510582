// How unbalanced a pool is (ADR 0041). A host's load is the demand of its VMs ÷ its allocatable,
// CPU and memory each; the pool's imbalance is the quadratic mean of the two standard deviations,
// √((σ_cpu² + σ_mem²) / 2): smooth (every move that evens out either resource counts), O(1) to
// update per move from running sums, and equal to σ when both resources are equally skewed.
import type { MigrationThreshold } from "./types.ts";

/** Band width between two levels: level t tolerates an imbalance of 0.05 × (5 − t). */
const band = 0.05;

/** What a threshold tolerates: 1 → 0.20 (and only mandatory moves), 2 → 0.15, 3 → 0.10, 4 → 0.05, 5 → 0 (any gain). */
export function targetImbalance(threshold: MigrationThreshold): number {
  return Math.round(band * (5 - threshold) * 100) / 100;
}

/** A balancing move must lower the imbalance by at least this much (level 5's "any gain" without endless shuffles). */
export const minGain = 0.001;

/** Running sums of host loads over the hosts that take part in balancing. */
export interface LoadSums {
  n: number;
  cpu: number;
  cpu2: number;
  mem: number;
  mem2: number;
}

function variance(n: number, sum: number, sum2: number): number {
  if (n === 0) return 0;
  const mean = sum / n;
  return Math.max(0, sum2 / n - mean * mean);
}

export function imbalanceOf(s: LoadSums): number {
  return Math.sqrt((variance(s.n, s.cpu, s.cpu2) + variance(s.n, s.mem, s.mem2)) / 2);
}

/** One host's loads before (cpu0, mem0) and after (cpu1, mem1) a move. */
export interface LoadChange {
  cpu0: number;
  mem0: number;
  cpu1: number;
  mem1: number;
}

/** The imbalance once the source's and the target's loads change. */
export function imbalanceAfter(s: LoadSums, from: LoadChange, to: LoadChange): number {
  return imbalanceOf({
    n: s.n,
    cpu: s.cpu - from.cpu0 + from.cpu1 - to.cpu0 + to.cpu1,
    cpu2: s.cpu2 - from.cpu0 ** 2 + from.cpu1 ** 2 - to.cpu0 ** 2 + to.cpu1 ** 2,
    mem: s.mem - from.mem0 + from.mem1 - to.mem0 + to.mem1,
    mem2: s.mem2 - from.mem0 ** 2 + from.mem1 ** 2 - to.mem0 ** 2 + to.mem1 ** 2,
  });
}

/** Round for people (reasons) — the plan keeps full precision. */
export const show = (x: number): string => x.toFixed(2);
