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

/** A balancing move must lower the imbalance by at least this much, ÷ the number of hosts (one move shifts a σ over n hosts by about 1/n of what it does over one): level 5's "any gain" without endless shuffles. */
export function minGain(hosts: number): number {
  return 0.001 / Math.max(1, hosts);
}

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

/** Round for people (reasons) — the plan keeps full precision. */
export const show = (x: number): string => x.toFixed(2);
