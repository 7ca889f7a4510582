// Driver micro-benchmark: the lifecycle of 20 VMs (define, start, stop, undefine) through each
// Omnivisor driver and through the hypervisor's own CLI, in the same run on the same host — one
// VM after another, and all 20 at once (phase by phase). Writes Markdown and JSON results.
//
// Each hypervisor adds a LifecycleBench (bench/drivers-<kind>.ts) to `benches` below.
// Usage: node bench/drivers.ts [--only docker] [--vms 20] [--json FILE] [--markdown FILE]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { dockerBench } from "./drivers-docker.ts";
import { libvirtBench } from "./drivers-libvirt.ts";

export const phases = ["define", "start", "stop", "undefine"] as const;
export type Phase = (typeof phases)[number];

/** One way of driving a VM's lifecycle: each phase acts on one VM by name. */
export type Steps = Record<Phase, (name: string) => Promise<void>>;

export interface LifecycleBench {
  /** "docker", "libvirt (qemu:///system)". */
  name: string;
  /** Labels of the two ways, e.g. { driver: "Docker driver (dockerode)", cli: "docker CLI" }. */
  labels: { driver: string; cli: string };
  /** Prepares both ways; returns them, and cleanup that removes every VM named with prefix. */
  setup(prefix: string): Promise<{ driver: Steps; cli: Steps; cleanup: () => Promise<void> }>;
}

const benches: LifecycleBench[] = [dockerBench, libvirtBench()];

interface WayResult {
  way: string;
  sequentialMs: Record<Phase | "total", number>;
  parallelMs: Record<Phase | "total", number>;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function measure(way: string, steps: Steps, names: string[]): Promise<WayResult> {
  const sequentialMs = { define: 0, start: 0, stop: 0, undefine: 0, total: 0 };
  for (const name of names) {
    for (const phase of phases) sequentialMs[phase] += await timed(() => steps[phase](name));
  }
  const parallelMs = { define: 0, start: 0, stop: 0, undefine: 0, total: 0 };
  for (const phase of phases) parallelMs[phase] = await timed(() => Promise.all(names.map((n) => steps[phase](n))));
  for (const r of [sequentialMs, parallelMs]) r.total = phases.reduce((sum, p) => sum + r[p], 0);
  return { way, sequentialMs, parallelMs };
}

async function run(bench: LifecycleBench, vms: number): Promise<{ bench: string; vms: number; driver: WayResult; cli: WayResult; cliOverDriver: { sequential: number; parallel: number } }> {
  const prefix = `bench-${bench.name.split(" ")[0]}-${process.pid}`;
  const ways = await bench.setup(prefix);
  try {
    const names = (way: string): string[] => Array.from({ length: vms }, (_, i) => `${prefix}-${way}-${String(i).padStart(2, "0")}`);
    // One warm-up VM each, so neither way pays for first-use costs (image cache, connection).
    for (const [way, steps] of [["warm-driver", ways.driver], ["warm-cli", ways.cli]] as const) {
      for (const phase of phases) await steps[phase](`${prefix}-${way}`);
    }
    const driver = await measure(bench.labels.driver, ways.driver, names("drv"));
    const cli = await measure(bench.labels.cli, ways.cli, names("cli"));
    const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
    return { bench: bench.name, vms, driver, cli, cliOverDriver: { sequential: ratio(cli.sequentialMs.total, driver.sequentialMs.total), parallel: ratio(cli.parallelMs.total, driver.parallelMs.total) } };
  } finally {
    await ways.cleanup();
  }
}

function markdown(results: Awaited<ReturnType<typeof run>>[]): string {
  const ms = (n: number): string => `${Math.round(n)}`;
  const lines = ["# Driver micro-benchmark", "", `${new Date().toISOString()} — each VM: define, start, stop, undefine. Times in ms, summed per phase.`, ""];
  for (const r of results) {
    lines.push(`## ${r.bench}: ${r.vms} VMs`, "", "| way | mode | define | start | stop | undefine | total |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (const w of [r.driver, r.cli]) {
      for (const [mode, t] of [["one after another", w.sequentialMs], ["all at once", w.parallelMs]] as const) {
        lines.push(`| ${w.way} | ${mode} | ${ms(t.define)} | ${ms(t.start)} | ${ms(t.stop)} | ${ms(t.undefine)} | ${ms(t.total)} |`);
      }
    }
    lines.push("", `CLI time / driver time: ${r.cliOverDriver.sequential}× one after another, ${r.cliOverDriver.parallel}× all at once.`, "");
  }
  return lines.join("\n");
}

const { values } = parseArgs({ options: { only: { type: "string" }, vms: { type: "string" }, json: { type: "string" }, markdown: { type: "string" } } });
const results = [];
for (const bench of benches.filter((b) => values.only === undefined || b.name.startsWith(values.only))) {
  const r = await run(bench, Number(values.vms ?? 20));
  console.log(`${r.bench}: ${r.vms} VMs — ${r.driver.way} ${Math.round(r.driver.sequentialMs.total)} ms one after another, ${Math.round(r.driver.parallelMs.total)} ms all at once; ${r.cli.way} ${Math.round(r.cli.sequentialMs.total)} / ${Math.round(r.cli.parallelMs.total)} ms (CLI/driver ${r.cliOverDriver.sequential}× / ${r.cliOverDriver.parallel}×)`);
  results.push(r);
}
for (const [file, text] of [[values.json, JSON.stringify(results, null, 2)], [values.markdown, markdown(results)]] as const) {
  if (file === undefined) continue;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${text}\n`);
}
