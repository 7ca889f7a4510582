// The DRS planner (issue #26, ADR 0041): one pool in, the moves that balance it out. Pure — no
// Kubernetes, no drivers, no clock; the same input gives the same plan (ties broken by name).
//
// Load: per host, the demand of its VMs (live usage where known, else the allocation) ÷ its
// allocatable, CPU and memory each. Imbalance: √((σ_cpu² + σ_mem²) / 2) over the hosts that take
// part (ready, not in maintenance, able to live-migrate).
//
// A plan: first the mandatory moves (priority 1: rule violations, hosts allocated beyond their
// allocatable), then the balancing moves that bring the pool to targetImbalance(threshold)
// (balance.ts). Levels never give fewer moves than the level below, by construction: the plan for
// level t is the direct search for t's target when that has at least as many moves as the plan
// for t − 1, else the plan for t − 1 continued to t's target. A balancing move's priority (2–5)
// is the level whose band of imbalance it starts in — above 0.15 → 2, above 0.10 → 3, above
// 0.05 → 4, else 5 — never below an earlier move's and never above the threshold it was planned
// for (every move of the plan is needed to reach that level's target).
import { fixedCost, planBand } from "./balance.ts";
import { Planning } from "./context.ts";
import { targetImbalance } from "./imbalance.ts";
import { planMandatory } from "./mandatory.ts";
import type { DrsInput, DrsPlan, Recommendation, Skipped } from "./types.ts";

export { targetImbalance } from "./imbalance.ts";

type Level = 2 | 3 | 4 | 5;

/** The bands one after another, from where the one before stopped; the plan's moves and skips after them. */
function bands(p: Planning, levels: readonly Level[], fixed: number): { recommendations: Recommendation[]; skipped: Skipped[] } {
  for (const level of levels) {
    if (p.full || !planBand(p, level, targetImbalance(level), fixed)) break;
  }
  return { recommendations: [...p.recommendations], skipped: [...p.skipped] };
}

/** A balancing move's priority: the level whose band of imbalance it starts in (2 above 0.15, 3 above 0.10, 4 above 0.05, else 5), never below an earlier move's. */
function prioritise(recommendations: Recommendation[], start: number, threshold: number): void {
  let floor: Recommendation["priority"] = 2;
  let before = start;
  for (const r of recommendations) {
    if (r.priority !== 1) {
      let band: Level = 5;
      for (const level of [2, 3, 4] as const) {
        if (before > targetImbalance(level)) {
          band = level;
          break;
        }
      }
      floor = Math.min(Math.max(floor, band), threshold) as Level;
      r.priority = floor;
    }
    before = r.imbalanceAfter;
  }
}

export function planBalance(input: DrsInput): DrsPlan {
  const p = new Planning(input);
  for (const h of p.pool.hosts) {
    if (h.host.cannotMigrate === undefined) continue;
    p.skipped.push({ host: h.host.name, reason: h.host.cannotMigrate });
    for (const i of h.vms) p.skipVm(p.pool.vms[i]!, `on ${h.host.name}, which cannot live-migrate: ${h.host.cannotMigrate}`);
  }
  planMandatory(p);
  const fixed = fixedCost(p);
  const mandatory = p.mark();
  let chain: Level[] = [];
  let plan = bands(p, chain, fixed);
  for (let l = 2; l <= input.threshold; l++) {
    const level = l as Level;
    p.rollback(mandatory);
    const direct = bands(p, [level], fixed);
    if (direct.recommendations.length >= plan.recommendations.length) {
      plan = direct;
      chain = [level];
    } else {
      // The direct search found fewer moves than the level below: continue that plan instead.
      chain = [...chain, level];
      p.rollback(mandatory);
      plan = bands(p, chain, fixed);
    }
  }
  prioritise(plan.recommendations, p.start, input.threshold);
  return { imbalance: p.start, targetImbalance: targetImbalance(input.threshold), recommendations: plan.recommendations, skipped: plan.skipped };
}
