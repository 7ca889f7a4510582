// The VDCQuota admission webhook's latency under 50 concurrent creates (issue #22), against a
// baseline in the same run: the same 50 creates into a namespace the webhook is not registered for.
//
// A control plane of its own (etcd + kube-apiserver, the CRDs), the real manager as a process
// serving the webhook over HTTPS on loopback (running the vdcquota controller only: no VM is
// placed, so a create costs admission and storage only) with a certificate from the control
// plane's CA, and a ValidatingWebhookConfiguration (failurePolicy Fail) scoped by label to the
// quota namespace. The quota there is large enough for every create to be admitted — each one is
// charged: from the room the webhook reserved in the quota (ADR 0049), converted into charges by
// a write afterwards, or, when it has no reservation yet, by a write before the answer.
//
// Per round (--rounds, default 5, after one warm-up round per side): 50 creates sent at once over
// HTTPS (one request each, as kubectl create would, minus kubectl's process start), timed from
// send to answer; the side that goes first alternates. Then the VMs are deleted and, on the quota
// side, the recount has released them before the next round. Measures:
//   - webhook: the manager's own answer time per AdmissionReview (request read → answer written,
//     from its debug log line "admission answered"), p50 / p99 / max — the figure held to p99 < 20 ms;
//   - create with webhook vs baseline: each create's wall time, p50 / p99, and their difference
//     (what the webhook adds as the API server sees it: its call, TLS, the charge's write);
//   - cold bursts (--cold-rounds, default 2): 50 creates after the webhook has given its
//     reservation back (idle for the hold, 10 s), so the first write is waited for again.
//
// Usage: node bench/webhook.ts [--rounds 5] [--cold-rounds 2] [--creates 50] [--json FILE] [--markdown FILE]
// (BENCH_KEEP_LOG=FILE keeps the manager's debug log: charge batches, conflicts, recounts.)
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { managerNodeFlags } from "../src/cmd/manager-node.ts";
import { ControlPlane } from "../src/local/control-plane.ts";
import { kubeRequest } from "../src/local/kube-http.ts";
import { servingCert } from "../src/local/pki.ts";
import { freePort } from "../src/local/ports.ts";
import { repoRoot } from "../src/local/toolchain.ts";
import { waitFor } from "../src/local/wait.ts";
import { quotaWebhookConfiguration } from "../src/local/webhook-config.ts";
import { webhookInForce } from "../tests/quota/fixtures.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" }, "cold-rounds": { type: "string", default: "2" }, creates: { type: "string", default: "50" }, json: { type: "string" }, markdown: { type: "string" } } });
const rounds = Number(values.rounds);
const coldRounds = Number(values["cold-rounds"]);
const creates = Number(values.creates);
const targetP99Ms = 20;
const quotaNs = "bench-quota";
const baselineNs = "bench-baseline";
const api = "omnivisor.io/v1alpha1";
const facts = runFacts();
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Figures { p50Ms: number; p99Ms: number; maxMs: number; samples: number }
const figures = (xs: number[]): Figures => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? Number.NaN;
  const r = (n: number): number => Math.round(n * 100) / 100;
  return { p50Ms: r(at(0.5)), p99Ms: r(at(0.99)), maxMs: r(s.at(-1) ?? Number.NaN), samples: s.length };
};

say(`webhook benchmark: ${rounds} rounds of ${creates} concurrent creates, with the VDCQuota webhook vs without\n${factsMarkdown(facts)}`);
const cp = await ControlPlane.start({ controllerManager: false });
const output: string[] = [];
const port = await freePort();
const cert = await servingCert(cp.dir, "webhook", ["IP:127.0.0.1", "DNS:localhost"]);
const manager = spawn(process.execPath, [
  ...managerNodeFlags(), join(repoRoot, "src", "cmd", "manager.ts"), "--kubeconfig", cp.kubeconfigs.operator, "--no-leader-elect", "--metrics-port", "0",
  "--controllers", "vdcquota", "--webhook-port", String(port), "--webhook-host", "127.0.0.1", "--webhook-cert-file", cert.cert, "--webhook-key-file", cert.key, "--log-level", "debug",
], { stdio: ["ignore", "pipe", "pipe"] });
manager.stdout.setEncoding("utf8").on("data", (c: string) => output.push(c));
manager.stderr.setEncoding("utf8").on("data", (c: string) => output.push(c));

/** The manager's "admission answered" times, in ms, from its log so far. */
const answers = (): number[] =>
  output.join("").split("\n").filter((l) => l.includes('"admission answered"')).map((l) => (JSON.parse(l) as { ms: number }).ms);

const vm = (namespace: string, name: string) => ({ apiVersion: api, kind: "VirtualMachine", metadata: { name, namespace }, spec: { cpus: 1, memory: "64Mi" } });
const vmsPath = (namespace: string): string => `/apis/omnivisor.io/v1alpha1/namespaces/${namespace}/virtualmachines`;

/** `creates` creates at once; each one's wall time (ms). Every one must be stored. */
async function burst(namespace: string, tag: string): Promise<number[]> {
  const times = await Promise.all(Array.from({ length: creates }, async (_, i) => {
    const started = performance.now();
    const res = await kubeRequest(cp.admin, "POST", vmsPath(namespace), vm(namespace, `${tag}-${i}`), 30_000);
    if (res.status !== 201) throw new Error(`create ${tag}-${i} in ${namespace}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    return performance.now() - started;
  }));
  await kubeRequest(cp.admin, "DELETE", vmsPath(namespace), undefined, 30_000);
  await waitFor(`${namespace} empty`, async () => ((JSON.parse((await kubeRequest(cp.admin, "GET", vmsPath(namespace))).body) as { items: unknown[] }).items.length === 0 ? true : undefined), { timeoutMs: 30_000 });
  if (namespace === quotaNs) await waitFor("the recount released the round", async () => ((await quotaUsed()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  return times;
}

/** `creates` creates one after another (no load): each one's wall time (ms). */
async function oneByOne(namespace: string, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < creates; i++) {
    const started = performance.now();
    const res = await kubeRequest(cp.admin, "POST", vmsPath(namespace), vm(namespace, `${tag}-${i}`), 30_000);
    if (res.status !== 201) throw new Error(`create ${tag}-${i} in ${namespace}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    times.push(performance.now() - started);
  }
  await kubeRequest(cp.admin, "DELETE", vmsPath(namespace), undefined, 30_000);
  await waitFor(`${namespace} empty`, async () => ((JSON.parse((await kubeRequest(cp.admin, "GET", vmsPath(namespace))).body) as { items: unknown[] }).items.length === 0 ? true : undefined), { timeoutMs: 30_000 });
  if (namespace === quotaNs) await waitFor("the recount released them", async () => ((await quotaUsed()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  return times;
}

/** The manager's charge batches (requests per batch, ms) and quota conflicts since line `from`. */
function batches(from: number): { batches: number; meanRequests: number; meanMs: number; conflicts: number; conversions: number; givenBack: number } {
  const lines = output.join("").split("\n").slice(from);
  const settled = lines.filter((l) => l.includes('"charge batch settled"')).map((l) => JSON.parse(l) as { requests: number; ms: number });
  const mean = (xs: number[]): number => Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 10) / 10;
  return { batches: settled.length, meanRequests: mean(settled.map((b) => b.requests)), meanMs: mean(settled.map((b) => b.ms)), conflicts: lines.filter((l) => l.includes('"quota changed meanwhile')).length, conversions: lines.filter((l) => l.includes('"reservation converted into charges"')).length, givenBack: lines.filter((l) => l.includes('"reservation given back"')).length };
}
const logLines = (): number => output.join("").split("\n").length;

async function quotaUsed(): Promise<number | undefined> {
  return (await quotaStatusNow())?.used?.virtualMachines;
}
async function quotaStatusNow(): Promise<{ used?: { virtualMachines?: number }; reservations?: unknown[] } | undefined> {
  const res = await kubeRequest(cp.admin, "GET", `/apis/omnivisor.io/v1alpha1/namespaces/${quotaNs}/vdcquotas/bench`);
  return (JSON.parse(res.body) as { status?: { used?: { virtualMachines?: number }; reservations?: unknown[] } }).status;
}

let result: object | undefined;
try {
  await cp.kubectl(["apply", "-f", "-"], [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: quotaNs, labels: { "omnivisor.io/bench": "webhook" } } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: baselineNs } },
  ].map((o) => stringify(o)).join("---\n"));
  await waitFor("the manager's webhook serving", () => (output.join("").includes("serving the admission webhook") ? true : undefined), { timeoutMs: 60_000, onTimeout: () => output.join("").slice(-2000) });
  await cp.kubectl(["apply", "-f", "-"], stringify(quotaWebhookConfiguration({ name: "bench-vdcquota", url: `https://127.0.0.1:${port}/validate-quota`, caFile: cert.ca, namespaceLabels: { "omnivisor.io/bench": "webhook" } })));
  await webhookInForce(cp.kubeconfigs.admin, quotaNs);
  await cp.kubectl(["apply", "-f", "-"], stringify({ apiVersion: api, kind: "VDCQuota", metadata: { name: "bench", namespace: quotaNs }, spec: { hard: { virtualMachines: 100_000, cpus: 100_000 } } }));
  await waitFor("the bench quota counted", async () => ((await cp.kubectl(["get", "vdcquota", "bench", "-n", quotaNs, "-o", "jsonpath={.status.used.virtualMachines}"])).trim() === "0" ? true : undefined), { timeoutMs: 30_000 });

  say("warm-up round…");
  await burst(quotaNs, "warm");
  await burst(baselineNs, "warm");
  // no load: one create at a time, what the webhook costs by itself
  const idleFrom = answers().length;
  const idleWith = figures(await oneByOne(quotaNs, "idle"));
  const idleWebhook = figures(answers().slice(idleFrom));
  const idleBaseline = figures(await oneByOne(baselineNs, "idle"));
  say(`one at a time: webhook p50 ${idleWebhook.p50Ms} / p99 ${idleWebhook.p99Ms} ms; create p50 with ${idleWith.p50Ms} vs without ${idleBaseline.p50Ms} ms`);
  const burstFrom = logLines();
  const withWebhook: number[] = [];
  const baseline: number[] = [];
  const perRound: { round: number; first: string; withWebhook: Figures; baseline: Figures; webhook: Figures }[] = [];
  const answeredBefore = answers().length;
  for (let round = 1; round <= rounds; round++) {
    const before = answers().length;
    const sides = round % 2 === 1 ? [quotaNs, baselineNs] : [baselineNs, quotaNs];
    const got: Record<string, number[]> = {};
    for (const ns of sides) got[ns] = await burst(ns, `r${round}`);
    withWebhook.push(...got[quotaNs]!);
    baseline.push(...got[baselineNs]!);
    const row = { round, first: sides[0] === quotaNs ? "webhook" : "baseline", withWebhook: figures(got[quotaNs]!), baseline: figures(got[baselineNs]!), webhook: figures(answers().slice(before)) };
    perRound.push(row);
    say(`round ${round}: webhook p50 ${row.webhook.p50Ms} / p99 ${row.webhook.p99Ms} ms; create p50 with ${row.withWebhook.p50Ms} vs without ${row.baseline.p50Ms} ms`);
  }
  const webhook = figures(answers().slice(answeredBefore));
  const created = figures(withWebhook);
  const base = figures(baseline);
  const charging = batches(burstFrom);
  // cold: the webhook has given its reservation back (idle for the hold), the first write is waited for again
  const coldAnswers: number[] = [];
  const coldPerRound: Figures[] = [];
  for (let round = 1; round <= coldRounds; round++) {
    await waitFor("the webhook to give its reservation back (idle)", async () => ((await quotaStatusNow())?.reservations === undefined ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const before = answers().length;
    await burst(quotaNs, `cold${round}`);
    coldPerRound.push(figures(answers().slice(before)));
    coldAnswers.push(...answers().slice(before));
    say(`cold round ${round}: webhook p50 ${coldPerRound.at(-1)!.p50Ms} / p99 ${coldPerRound.at(-1)!.p99Ms} ms`);
  }
  const cold = figures(coldAnswers);
  result = {
    facts,
    oneAtATime: { webhook: idleWebhook, createWithWebhook: idleWith, createBaseline: idleBaseline },
    charging,
    creates,
    rounds,
    coldRounds,
    cold,
    coldPerRound,
    targetP99Ms,
    webhook,
    createWithWebhook: created,
    createBaseline: base,
    addedP50Ms: Math.round((created.p50Ms - base.p50Ms) * 100) / 100,
    addedP99Ms: Math.round((created.p99Ms - base.p99Ms) * 100) / 100,
    perRound,
  };
  const md = [
    "# VDCQuota webhook latency",
    "",
    `Written by \`node bench/webhook.ts\` (make bench-webhook). ${rounds} rounds of ${creates} creates sent at once, each round into a namespace the webhook serves (every create admitted and charged in the quota's ledger) and into one it does not (baseline), the side going first alternating.`,
    "",
    factsMarkdown(facts),
    "",
    "| measure | p50 | p99 | max | samples |",
    "| --- | ---: | ---: | ---: | ---: |",
    `| webhook answer (manager, per AdmissionReview) | ${webhook.p50Ms} ms | ${webhook.p99Ms} ms | ${webhook.maxMs} ms | ${webhook.samples} |`,
    `| create, with the webhook | ${created.p50Ms} ms | ${created.p99Ms} ms | ${created.maxMs} ms | ${created.samples} |`,
    `| create, baseline (no webhook) | ${base.p50Ms} ms | ${base.p99Ms} ms | ${base.maxMs} ms | ${base.samples} |`,
    "",
    `Target: webhook p99 < ${targetP99Ms} ms — ${webhook.p99Ms < targetP99Ms ? "met" : "**missed**"}. What the webhook adds to a create as the client sees it: p50 ${(result as { addedP50Ms: number }).addedP50Ms} ms, p99 ${(result as { addedP99Ms: number }).addedP99Ms} ms.`,
    "",
    `One create at a time (no load): webhook p50 ${idleWebhook.p50Ms} / p99 ${idleWebhook.p99Ms} ms; create p50 ${idleWith.p50Ms} ms with the webhook vs ${idleBaseline.p50Ms} ms without.`,
    `Under the bursts the webhook admitted from the room it had reserved in the quota (ADR 0049): ${charging.batches === 0 ? "no request found its room unreserved (no charge batch was waited for)" : `it settled ${charging.batches} charge batches of ${charging.meanRequests} requests on average, each ${charging.meanMs} ms (requests that found no room reserved wait for one resourceVersion-guarded write of the ledger)`}; it converted what its reservation admitted into charges in ${charging.conversions} writes that no request waited for, met ${charging.conflicts} conflicts and gave its reservation back ${charging.givenBack} times.`,
    "",
    `Cold bursts (${coldRounds}, after the webhook gave its reservation back, idle for the 10 s hold): webhook p50 ${cold.p50Ms} / p99 ${cold.p99Ms} / max ${cold.maxMs} ms over ${cold.samples} answers — the requests that arrive while the first reservation is written wait for that write.`,
    "",
    "| round | first | webhook p50 / p99 | create with webhook p50 / p99 | baseline p50 / p99 |",
    "| ---: | --- | ---: | ---: | ---: |",
    ...perRound.map((r) => `| ${r.round} | ${r.first} | ${r.webhook.p50Ms} / ${r.webhook.p99Ms} ms | ${r.withWebhook.p50Ms} / ${r.withWebhook.p99Ms} ms | ${r.baseline.p50Ms} / ${r.baseline.p99Ms} ms |`),
    "",
  ].join("\n");
  say(`\n${md}`);
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  }
  if (values.markdown) {
    mkdirSync(dirname(values.markdown), { recursive: true });
    writeFileSync(values.markdown, md);
  }
} finally {
  await cp.kubectl(["delete", "validatingwebhookconfiguration", "bench-vdcquota", "--ignore-not-found"]).catch(() => undefined);
  if (process.env["BENCH_KEEP_LOG"]) writeFileSync(process.env["BENCH_KEEP_LOG"], output.join(""));
  manager.kill("SIGTERM");
  await new Promise((r) => manager.once("exit", r));
  await cp.stop();
}
