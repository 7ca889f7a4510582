// DRS planner time (issue #26): one pool of 1,000 hosts and 20,000 VMs (mixed sizes, uneven fill,
// anti-affinity groups and affinity pairs, live usage for most VMs; src/placement/drs/synthetic.ts
// largePool), planned again and again at the default level 3 (after 10 warm-up runs, reported
// apart: the controller plans every interval for the life of the process). Reports p50 / p99 /
// max of a whole planBalance call (target p99 < 200 ms), the heap and RSS, and what the plan does
// at each level.
// The planner is pure: nothing else runs, no services needed.
// Usage: node bench/drs-planner.ts [--hosts 1000] [--vms 20000] [--runs 25] [--json FILE] [--markdown FILE]
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { planBalance, targetImbalance } from "../src/placement/drs/plan.ts";
import { largePool } from "../src/placement/drs/synthetic.ts";
import type { DrsPlan, MigrationThreshold } from "../src/placement/drs/types.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";

const { values } = parseArgs({
  options: { hosts: { type: "string", default: "1000" }, vms: { type: "string", default: "20000" }, runs: { type: "string", default: "25" }, json: { type: "string" }, markdown: { type: "string" } },
});
const hostCount = Number(values.hosts);
const vmCount = Number(values.vms);
const runs = Math.max(20, Number(values.runs));
const targetP99Ms = 200;
const warmUp = 10;
const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

const facts = runFacts();
const input = largePool(2026, hostCount, vmCount);
const vmsPlaced = input.vms.length;
const rulesCount = input.vms.filter((v) => (v.request.affinity?.length ?? 0) + (v.request.antiAffinity?.length ?? 0) > 0).length;
console.log(`drs planner: ${hostCount} hosts, ${vmsPlaced} VMs (${rulesCount} with affinity rules), ${runs} runs at level 3 after ${warmUp} warm-up runs\n${factsMarkdown(facts)}`);

const heapBefore = process.memoryUsage().heapUsed;
let peakRss = process.memoryUsage().rss;
const time = (threshold: MigrationThreshold): { ms: number; cpuMs: number; plan: DrsPlan } => {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const plan = planBalance({ ...input, threshold });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { ms, cpuMs: (used.user + used.system) / 1000, plan };
};

const loadBefore = loadavg()[0]!;
const warmUpMs: number[] = [];
for (let i = 0; i < warmUp; i++) warmUpMs.push(time(3).ms);
const latencies: number[] = [];
const cpuTimes: number[] = [];
let last: DrsPlan | undefined;
for (let i = 0; i < runs; i++) {
  const { ms, cpuMs, plan } = time(3);
  latencies.push(ms);
  cpuTimes.push(cpuMs);
  last = plan;
}
const loadAfter = loadavg()[0]!;
const heapAfter = process.memoryUsage().heapUsed;
const sorted = [...latencies].sort((a, b) => a - b);
const quantile = (xs: readonly number[], p: number): number => xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)]!;
const q = (p: number): number => quantile(sorted, p);
const cpuSorted = [...cpuTimes].sort((a, b) => a - b);
const round = (x: number): number => Math.round(x * 100) / 100;

const memoryOf = new Map(input.vms.map((v) => [`${v.request.vm.namespace}/${v.request.vm.name}`, v.request.vm.resources.memoryMiB]));
const levels = ([1, 2, 3, 4, 5] as const).map((threshold) => {
  const { ms, plan } = time(threshold);
  const after = plan.recommendations.at(-1)?.imbalanceAfter ?? plan.imbalance;
  const gib = plan.recommendations.reduce((sum, r) => sum + memoryOf.get(`${r.vm.namespace}/${r.vm.name}`)! / 1024, 0);
  return {
    threshold,
    targetImbalance: targetImbalance(threshold),
    moves: plan.recommendations.length,
    mandatory: plan.recommendations.filter((r) => r.priority === 1).length,
    gibMoved: Math.round(gib),
    imbalanceBefore: Math.round(plan.imbalance * 1000) / 1000,
    imbalanceAfter: Math.round(after * 1000) / 1000,
    skipped: plan.skipped.length,
    ms: round(ms),
  };
});

const result = {
  facts,
  hosts: hostCount,
  vms: vmsPlaced,
  vmsWithRules: rulesCount,
  threshold: 3,
  runs,
  warmUpRuns: warmUp,
  p50Ms: round(q(0.5)),
  p99Ms: round(q(0.99)),
  maxMs: round(sorted.at(-1)!),
  cpuP50Ms: round(quantile(cpuSorted, 0.5)),
  cpuP99Ms: round(quantile(cpuSorted, 0.99)),
  firstRunMs: round(warmUpMs[0]!),
  warmUpMs: warmUpMs.map(round),
  loadAverage: { before: round(loadBefore), after: round(loadAfter), cores: facts.cores },
  target: `p99 < ${targetP99Ms} ms`,
  targetP99Ms,
  met: q(0.99) < targetP99Ms,
  heapGrowthMiB: mib(heapAfter - heapBefore),
  heapUsedMiB: mib(heapAfter),
  peakRssMiB: mib(peakRss),
  moves: last?.recommendations.length ?? 0,
  levels,
};

const md = [
  "# DRS planner",
  "",
  `Written by \`node bench/drs-planner.ts\` (make bench-drs). One pool of ${hostCount} hosts and ${vmsPlaced} VMs (mixed sizes from 1 vCPU / 1 GiB to 16 vCPU / 64 GiB, uneven fill, ${rulesCount} VMs in anti-affinity groups or affinity pairs, live usage for most), planned ${runs} times at level 3 (the default) after ${warmUp} warm-up runs; each sample is one whole planBalance call.`,
  "",
  factsMarkdown(facts),
  "",
  "| measure | result | target | |",
  "| --- | ---: | ---: | --- |",
  `| plan time p50 / p99 / max | ${result.p50Ms} / ${result.p99Ms} / ${result.maxMs} ms | p99 < ${targetP99Ms} ms | ${result.met ? "met" : "**missed**"} |`,
  `| CPU time per plan p50 / p99 (the process, all threads: GC runs beside it) | ${result.cpuP50Ms} / ${result.cpuP99Ms} ms | | |`,
  `| heap used after the runs / peak RSS | ${result.heapUsedMiB} / ${result.peakRssMiB} MiB | | |`,
  `| warm-up runs (not counted; the first is the cold start, then the JIT settles) | ${result.warmUpMs.join(" / ")} ms | | |`,
  "",
  `Load average while it ran: ${result.loadAverage.before} → ${result.loadAverage.after} on ${facts.cores} cores (wall time includes waiting for a core; CPU time does not).`,
  "",
  "What the plan does at each level (one run each, no maxMoves; a caller should pass one, which bounds the work — level 5 with maxMoves 200 takes about 50 ms):",
  "",
  "| level | target imbalance | moves (mandatory) | GiB moved | imbalance before → after | skipped | time |",
  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...levels.map((l) => `| ${l.threshold} | ${l.targetImbalance} | ${l.moves} (${l.mandatory}) | ${l.gibMoved} | ${l.imbalanceBefore} → ${l.imbalanceAfter} | ${l.skipped} | ${l.ms} ms |`),
  "",
].join("\n");
console.log(md);
for (const [file, text] of [
  [values.json, `${JSON.stringify(result, null, 2)}\n`],
  [values.markdown, md],
] as const) {
  if (!file) continue;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
