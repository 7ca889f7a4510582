// `make chaos` (issue #19): faults thrown at the real operator, and what they left behind. A report,
// not a test gate: it never fails on timings; it writes what it counted (duplicates, orphans, lost
// changes) and how long convergence took. Its own control plane, one namespace and Hosts labelled
// for the run (chaos-<id>), the local libvirtd and dockerd, a private vcsim; what earlier runs left
// on the shared hypervisors (names chaos-*) is removed first, what this one made at the end.
//
//   R1   kill -9 of the manager at random points while VMs are created, resized and deleted on
//        libvirt, Docker and ESXi; duplicates, orphans (VMs, libvirt disk volumes), time to converge
//   2L   two managers forced to lead at once (--no-leader-elect in both), 3 rounds of 20 VMs: duplicates
//   R2   API server restart, etcd restart, the manager's connections to the API server cut
//        mid-watch: every spec change made meanwhile reaches status (applied vs seen)
//   R3   a private dockerd and a private libvirtd restarted mid-create: VMs lost or doubled
//   more the invalid-manifest corpus, fuzz figures and the RBAC check, from their own tests
//
// Usage: node bench/chaos.ts [--trials 50] [--kill-window-ms 800] [--only r1,leaders,r2,r3,evidence]
//                            [--json FILE] [--markdown FILE]
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { controlPlaneFaults, type Disruption } from "./chaos/control-plane.ts";
import { daemonRestarts, type DaemonRestart } from "./chaos/daemons.ts";
import { evidence, type Evidence } from "./chaos/evidence.ts";
import { killTrials, type KillTrial } from "./chaos/kill.ts";
import { twoLeaders, type TwoLeaders } from "./chaos/leaders.ts";
import { World } from "./chaos/world.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "50" },
    "kill-window-ms": { type: "string", default: "800" },
    only: { type: "string", default: "r1,leaders,r2,r3,evidence" },
    json: { type: "string" },
    markdown: { type: "string" },
  },
});
const only = new Set(values.only.split(","));
const facts = runFacts();
const t00 = performance.now();
/** Progress on stderr, so a run that hangs says where. */
const step = (what: string): void => void process.stderr.write(`[${((performance.now() - t00) / 1000).toFixed(1)} s] ${what}\n`);
const operatorLog = join(tmpdir(), "omnivisor-chaos-operator.log");

const results: { r1?: KillTrial[]; leaders?: TwoLeaders; r2?: Disruption[]; r3?: DaemonRestart[]; evidence?: Evidence; errors: string[] } = { errors: [] };
/** A section that fails is reported as such; the others still run. */
async function section(name: string, body: () => Promise<void>): Promise<void> {
  if (!only.has(name)) return;
  try {
    await body();
  } catch (err) {
    results.errors.push(`${name}: ${(err as Error).message}`);
    step(`${name} failed: ${(err as Error).message}`);
  }
}
const w = await World.start(operatorLog);
step(`control plane up; namespace ${w.ns}; operator log ${operatorLog}`);
try {
  step(`removed ${await w.removeLeftovers()} VMs left by earlier chaos runs`);
  await section("r1", async () => {
    const r1 = await killTrials(w, Number(values.trials), Number(values["kill-window-ms"]), step);
    results.r1 = r1.trials;
    await w.kubectl(["delete", "virtualmachines.omnivisor.io", "--all", "-n", w.ns, "--wait=true", "--timeout=180s"]);
    await w.kill(r1.manager, "SIGTERM");
  });
  await section("leaders", async () => void (results.leaders = await twoLeaders(w, step)));
  await section("r2", async () => void (results.r2 = await controlPlaneFaults(w, step)));
  await section("r3", async () => void (results.r3 = await daemonRestarts(w, step)));
} finally {
  // what a failed section left: deleted through a manager while it still runs, then from the hypervisors directly
  const m = w.startManager();
  await w.kubectl(["delete", "virtualmachines.omnivisor.io", "--all", "-n", w.ns, "--wait=true", "--timeout=120s"]).catch(() => undefined);
  await w.kill(m, "SIGTERM");
  step(`cleanup: removed ${await w.removeLeftovers().catch(() => -1)} VMs from the shared hypervisors`);
  await w.stop();
}
// the test runs start control planes of their own: after this run's is gone
await section("evidence", async () => void (results.evidence = await evidence(step)));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const md: string[] = ["## Chaos: faults thrown at the real operator (issue #19)", "", factsMarkdown(facts), ""];
if (results.r1) {
  const r = results.r1;
  const times = r.flatMap((t) => (t.convergedMs === null ? [] : [t.convergedMs]));
  md.push(
    "### R1: kill -9 of the manager mid-create / resize / delete (libvirt, Docker, ESXi)",
    "",
    `${r.length} trials (target 50), one VM per driver per cycle create → resize → delete; the manager killed -9 at a random point 0–${values["kill-window-ms"]} ms after the step's requests, a new one started at once.`,
    "",
    "Mid-work: the kill came before the step's work was done (read with no manager running); converge: from the new manager's start until the world matched the spec.",
    "",
    `| step | trials | killed mid-work | converged | duplicates | orphans (VMs, disk volumes) | converge p50 / max |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...(["create", "resize", "delete"] as const).map((s) => {
      const of = r.filter((t) => t.step === s);
      const ts = of.flatMap((t) => (t.convergedMs === null ? [] : [t.convergedMs]));
      return `| ${s} | ${of.length} | ${of.filter((t) => t.midWork).length} | ${ts.length} | ${of.reduce((n, t) => n + t.duplicates.length, 0)} | ${of.reduce((n, t) => n + t.orphans.length, 0)} | ${Math.round(median(ts))} / ${Math.max(...ts)} ms |`;
    }),
    `| all | ${r.length} | ${r.filter((t) => t.midWork).length} | ${times.length} | ${r.reduce((n, t) => n + t.duplicates.length, 0)} | ${r.reduce((n, t) => n + t.orphans.length, 0)} | ${Math.round(median(times))} / ${Math.max(...times)} ms |`,
    "",
    ...r.filter((t) => t.error || t.duplicates.length || t.orphans.length).map((t) => `- trial ${t.trial} (${t.step}): ${[t.error, ...t.duplicates, ...t.orphans].filter(Boolean).join("; ")}`),
    "",
  );
}
const l = results.leaders;
if (l) {
  md.push(
    "### Two managers forced to lead at once",
    "",
    `Both started with --no-leader-elect (as two replicas that both believe they hold the Lease); ${l.rounds} rounds of 20 VMs applied at once (6 libvirt, 8 Docker, 6 ESXi), each round deleted with both running. Duplicates: uids held by two hypervisor VMs; orphans: VMs left after the delete.`,
    "",
    "| rounds | VMs | slowest round all Ready after | duplicates | orphans after delete |",
    "| ---: | ---: | ---: | ---: | ---: |",
    `| ${l.rounds} | ${l.vms} | ${l.allReadyMs === null ? "not reached" : `${l.allReadyMs} ms`} | ${l.duplicates.length} | ${l.orphansAfterDelete.length} |`,
    "",
    ...[l.error, ...l.duplicates, ...l.orphansAfterDelete].filter(Boolean).map((x) => `- ${x}`),
    "",
  );
}
if (results.r2) {
  md.push(
    "### R2: the control plane fails under the manager",
    "",
    "4 Docker VMs; their CPUs toggled 1 ↔ 2 every 250 ms (admin identity) from 2 s before the fault to 3 s after it. Applied: changes the API server accepted; seen: those whose generation reached status.observedGeneration (and the container's CPUs the last value written). The watch cut is a TCP proxy between the manager and the API server closing every connection and refusing new ones for 3 s. 410 Gone: the manager's watches told their resourceVersion is too old (the restarted API server's watch cache starts at etcd's current revision) and relisted, counted from its log.",
    "",
    "| fault | changes applied | seen in status | refused meanwhile | watches relisted after 410 Gone | converged after the fault |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...results.r2.map((d) => `| ${d.fault} | ${d.applied} | ${d.seen} | ${d.refused} | ${d.goneRelists} | ${d.convergedMs === null ? `not reached${d.error ? ` (${d.error})` : ""}` : `${d.convergedMs} ms`} |`),
    "",
  );
}
if (results.r3) {
  md.push(
    "### R3: the hypervisor's daemon killed -9 and started again mid-create",
    "",
    "A private dockerd and a private libvirtd (tests/harness), 3 rounds each: 5 VMs applied at once, the daemon killed -9 a random 0–1 s after the apply started (VMs made at the kill: listed just before it, so an upper bound), then started again on the same state. Lost: a VirtualMachine with no VM on the daemon; doubled: a uid held by two.",
    "",
    "| daemon | VMs | killed after the apply started | VMs made at the kill | lost | doubled | all Ready after the restart |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.r3.map((d) => `| ${d.daemon} | ${d.vms} | ${d.killAfterMs} ms | ${d.onDaemonAtRestart} | ${d.lost} | ${d.doubled} | ${d.convergedMs === null ? `not reached${d.error ? ` (${d.error})` : ""}` : `${d.convergedMs} ms`} |`),
    "",
    ...results.r3.flatMap((d) => d.stuck.map((x) => `- ${d.daemon}, not Ready at the end: ${x}`)),
    "",
  );
}
const e = results.evidence;
if (e) {
  md.push(
    "### From the test suite (run by this script)",
    "",
    `- Invalid-manifest corpus: ${e.invalidManifests.files} manifests under tests/api/invalid across ${e.invalidManifests.kinds} kinds (counted here; each is rejected naming the field by tests/api).`,
    ...e.runs.map((r) => `- ${r.what}: \`${r.command}\` — ${r.passed} passed, ${r.failed} failed${r.notSelected ? ` (${r.notSelected} other tests of the file not selected)` : ""}${r.figures.length ? `\n${r.figures.map((f) => `  - ${f}`).join("\n")}` : ""}`),
    "",
  );
}
if (results.errors.length > 0) md.push("### Sections that did not finish", "", ...results.errors.map((x) => `- ${x}`), "");
const markdown = md.join("\n");
console.log(markdown);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ facts, ...results }, null, 2)}\n`);
}
if (values.markdown) {
  mkdirSync(dirname(values.markdown), { recursive: true });
  writeFileSync(values.markdown, markdown);
}
process.exit(0);
