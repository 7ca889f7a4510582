// The DRS planner (issue #26, ADR 0041): one pool in, the moves that balance it out. Pure — no
// Kubernetes, no drivers, no clock; the same input gives the same plan (ties broken by name).
//
// Load: per host, the demand of its VMs (live usage where known, else the allocation) ÷ its
// allocatable, CPU and memory each. Imbalance: √((σ_cpu² + σ_mem²) / 2) over the hosts that can
// take part (ready, not in maintenance, able to live-migrate).
//
// The plan is built in bands, one per level: first the mandatory moves (priority 1: rule
// violations, hosts allocated beyond their allocatable), then for level p = 2 … threshold the
// greedy moves that bring the pool from above targetImbalance(p − 1) to targetImbalance(p), each
// with priority p. So the plan at a threshold is the plan at the threshold below plus more moves:
// levels 1 → 5 never give fewer, and every prefix is a valid sequence.
import { planMandatory } from "./mandatory.ts";
import { fixedCost, nextMove } from "./balance.ts";
import { Planning } from "./context.ts";
import { targetImbalance } from "./imbalance.ts";
import { imbalance } from "./state.ts";
import type { DrsInput, DrsPlan, MigrationThreshold } from "./types.ts";

export { targetImbalance } from "./imbalance.ts";

export function planBalance(input: DrsInput): DrsPlan {
  const p = new Planning(input);
  const start = imbalance(p.pool);
  for (const h of p.pool.hosts) {
    if (h.host.cannotMigrate === undefined) continue;
    p.skipped.push({ host: h.host.name, reason: h.host.cannotMigrate });
    for (const i of h.vms) p.skipVm(p.pool.vms[i]!, `on ${h.host.name}, which cannot live-migrate: ${h.host.cannotMigrate}`);
  }
  planMandatory(p);
  const fixed = fixedCost(p);
  balancing: for (let level = 2; level <= input.threshold; level++) {
    const target = targetImbalance(level as MigrationThreshold);
    while (!p.full) {
      const now = imbalance(p.pool);
      if (now <= target) break;
      const move = nextMove(p, now, target, fixed);
      if (move === undefined) break balancing;
      p.commit(move.v, move.to, level as 2 | 3 | 4 | 5, undefined);
    }
  }
  return { imbalance: start, targetImbalance: targetImbalance(input.threshold), recommendations: p.recommendations, skipped: p.skipped };
}
