// Provisioning latency and throughput (issue #8, part 1): N tiny VMs applied at once as
// VirtualMachines through the real operator, against the same VMs made directly on the same host
// in the same run — virsh (overlay volume in the same pool + define + start) and `docker run`. Per VM:
// create → Running (operator: its create request sent → a watch shows status.phase Running;
// baseline: its commands started → they returned). Plus the time until all N are Running.
// Domains start under TCG (virt-type qemu; ADR 0003), 64 MiB, a qcow2 overlay on the idle-vm
// image: a guest that halts at once, so 100 of them on 2 cores measure provisioning rather than
// 100 kernels booting (ADR 0013; --image tiny-vm for that boot storm). "Running" is the domain's
// state on both sides, not the guest having booted.
//
// Every N runs several rounds, the two sides alternating (N = 1: 5, else --rounds, default 3); the
// ratio is the median of the rounds' ratios, and their spread (min–max) is reported beside it.
//
// Usage: node bench/provisioning.ts [--sizes 1,20,100] [--kinds libvirt,docker] [--image idle-vm]
//                                   [--rounds 3] [--libvirt-connections N] [--json FILE] [--markdown FILE]
// --libvirt-connections sets the Hosts' libvirt.omnivisor.io/connections (default: the driver's, 4);
// --vm-workers the manager's VMs reconciled at once (default: the manager's, 32).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { domainXml } from "../drivers/libvirt/domain-xml.ts";
import { defaultPoolName, omnivisorImageStore } from "../drivers/libvirt/index.ts";
import { ControlPlane } from "../src/local/control-plane.ts";
import { repoRoot } from "../src/local/toolchain.ts";
import { loadKubeConfig } from "../src/runtime/kubeconfig.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";
import { stateOf, VmWatch } from "./vm-watch.ts";
import { managerNodeFlags } from "../src/cmd/manager-node.ts";

const run = promisify(execFile);
const { values } = parseArgs({ options: { sizes: { type: "string", default: "1,20,100" }, kinds: { type: "string", default: "libvirt,docker" }, image: { type: "string", default: "idle-vm" }, rounds: { type: "string", default: "3" }, "libvirt-connections": { type: "string" }, "vm-workers": { type: "string" }, json: { type: "string" }, markdown: { type: "string" } } });
const image = values.image;
const sizes = values.sizes.split(",").map(Number);
const kinds = values.kinds.split(",").map((k) => {
  if (k !== "libvirt" && k !== "docker") throw new Error(`--kinds: ${k} is neither libvirt nor docker`);
  return k;
});
const uri = "qemu:///system";
const dockerSocket = "/var/run/docker.sock";
const ns = "prov";
const facts = runFacts();
const t00 = performance.now();
/** Progress on stderr, so a run that hangs says where. */
const step = (what: string): void => void process.stderr.write(`[${((performance.now() - t00) / 1000).toFixed(1)} s] ${what}\n`);

console.log(factsMarkdown(facts));

const work = await mkdtemp(join(tmpdir(), "omnivisor-bench-prov-"));
const cp = await ControlPlane.start({ controllerManager: false });
const kubectl = (args: string[], input?: string): Promise<string> => cp.kubectl(args, input);
const docs = (objs: object[]): string => objs.map((o) => JSON.stringify(o)).join("\n---\n");
// a CLI call that hangs (dockerd once took minutes to tear down 100 bridge endpoints) fails the
// run with its command line instead of stalling it
const cli = { timeout: 300_000, killSignal: "SIGKILL" as const };
const virsh = async (...args: string[]): Promise<string> => (await run("virsh", ["-q", "-c", uri, ...args], cli)).stdout;
const docker = async (...args: string[]): Promise<string> => (await run("docker", ["-H", `unix://${dockerSocket}`, ...args], cli)).stdout;

interface Figures {
  p50Ms: number;
  p95Ms: number;
  allMs: number;
}
const singleRounds = 5;
const manyRounds = Math.max(1, Number(values.rounds));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const figures = (latencies: number[], allMs: number): Figures => {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (p: number): number => Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN);
  return { p50Ms: at(50), p95Ms: at(95), allMs: Math.round(allMs) };
};

// ---- the operator side -------------------------------------------------------------------
let operator: ChildProcess | undefined;
let vms: VmWatch | undefined;
let api: CustomObjectsApi | undefined;
// kept after the run: the first place to look when a VM does not reach Running
const operatorLog = join(tmpdir(), "omnivisor-bench-provisioning-operator.log");

async function operatorSide(kind: "libvirt" | "docker", n: number, round: string): Promise<Figures> {
  const names = new Set(Array.from({ length: n }, (_, i) => `${kind}-${round}-${i}`));
  const vm = (name: string) => ({
    apiVersion: "omnivisor.io/v1alpha1",
    kind: "VirtualMachine",
    metadata: { name, namespace: ns },
    spec:
      kind === "libvirt"
        ? { cpus: 1, memory: "64Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image }], networks: [], placement: { hosts: ["prov-libvirt-a", "prov-libvirt-b"] } }
        : { cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "busybox:local" }], placement: { hosts: ["prov-docker-a", "prov-docker-b"] } },
  });
  const sent = new Map<string, number>();
  const running = new Map<string, number>();
  let off = (): void => undefined;
  const all = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const states = [...names].filter((name) => !running.has(name)).map((name) => `${name}: ${vms!.state(name) || "no status"}`);
      reject(new Error(`operator, ${kind} N=${n}: ${states.length} VMs not Running after 600 s (${states.slice(0, 5).join("; ")}); operator log: ${operatorLog}`));
    }, 600_000);
    off = vms!.onChange((name, obj, at) => {
      if (!names.has(name) || running.has(name) || stateOf(obj) !== "Running") return;
      running.set(name, at);
      if (running.size === n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  step(`operator ${kind} N=${n} (${round}): creating`);
  const t0 = performance.now();
  // one create request per object, all at once, as a GitOps tool applying N manifests sends them
  await Promise.all(
    [...names].map(async (name) => {
      sent.set(name, performance.now());
      await api!.createNamespacedCustomObject({ group: "omnivisor.io", version: "v1alpha1", namespace: ns, plural: "virtualmachines", body: vm(name) });
    }),
  );
  try {
    await all;
  } finally {
    off();
  }
  const allMs = performance.now() - t0;
  const result = figures([...names].map((name) => running.get(name)! - sent.get(name)!), allMs);
  step(`operator ${kind} N=${n} (${round}): all Running in ${Math.round(allMs)} ms; deleting`);
  await kubectl(["delete", "virtualmachines.omnivisor.io", ...names, "-n", ns, "--wait=true", "--timeout=300s"]);
  return result;
}

/**
 * Rounds of one VM each: each round one sample, p50 / p95 over them and "all" their median.
 * Rounds of N VMs: the median of each figure over the rounds.
 */
function overRounds(rounds: Figures[], n: number): Figures {
  if (rounds.length === 1) return rounds[0]!;
  if (n === 1) return figures(rounds.map((f) => f.allMs), median(rounds.map((f) => f.allMs)));
  return { p50Ms: Math.round(median(rounds.map((f) => f.p50Ms))), p95Ms: Math.round(median(rounds.map((f) => f.p95Ms))), allMs: Math.round(median(rounds.map((f) => f.allMs))) };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Runs `one` for 0..n-1 (alone for n = 1, all at once otherwise) and times each and the whole. */
async function timeAll(n: number, one: (i: number) => Promise<number>): Promise<Figures> {
  const t0 = performance.now();
  const latencies = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  return figures(latencies, performance.now() - t0);
}

// ---- the baselines ----------------------------------------------------------------------------
// The same work as the driver does: an overlay volume in the same pool over the image's volume,
// the kernel and initrd paths of its volumes, a console log beside QEMU's logs.
async function virshSide(n: number, round: string): Promise<Figures> {
  const volPath = async (vol: string): Promise<string | undefined> => (await virsh("vol-path", "--pool", defaultPoolName, vol).catch(() => "")).trim() || undefined;
  const [base, kernel, initrd] = await Promise.all([volPath(`${image}.qcow2`), volPath(`${image}.vmlinuz`), volPath(`${image}.initrd`)]);
  if (!base) throw new Error(`image ${image} has no volume ${image}.qcow2 in pool ${defaultPoolName}: run make services`);
  const one = async (i: number): Promise<number> => {
    const name = `prov-virsh-${round}-${i}`;
    const t = performance.now();
    await virsh("vol-create-as", defaultPoolName, `${name}.qcow2`, "16M", "--format", "qcow2", "--backing-vol", base, "--backing-vol-format", "qcow2");
    const disk = (await volPath(`${name}.qcow2`))!;
    const uuid = randomUUID();
    const xml = domainXml({
      identity: { uid: uuid, name, namespace: ns, kubeName: name },
      virtType: "qemu",
      cpus: 1,
      memoryMiB: 64,
      uuid,
      disks: [{ path: disk, format: "qcow2" }],
      nics: [],
      consoleLog: `/var/log/libvirt/qemu/${name}-console.log`,
      ...(kernel ? { kernel: { path: kernel, cmdline: "console=ttyS0 quiet", ...(initrd ? { initrd } : {}) } } : {}),
    });
    await writeFile(join(work, `${name}.xml`), xml);
    await virsh("define", join(work, `${name}.xml`));
    await virsh("start", name);
    return performance.now() - t;
  };
  const result = await timeAll(n, one);
  for (let i = 0; i < n; i++) {
    const name = `prov-virsh-${round}-${i}`;
    await virsh("destroy", name).catch(() => "");
    await virsh("undefine", name).catch(() => "");
    await virsh("vol-delete", "--pool", defaultPoolName, `${name}.qcow2`).catch(() => "");
  }
  return result;
}

async function dockerSide(n: number, round: string): Promise<Figures> {
  const one = async (i: number): Promise<number> => {
    const t = performance.now();
    await docker("run", "-d", "-t", "-i", "--name", `prov-docker-${round}-${i}`, "--cpus", "1", "-m", "32m", "busybox:local");
    return performance.now() - t;
  };
  const result = await timeAll(n, one);
  await docker("rm", "-f", ...Array.from({ length: n }, (_, i) => `prov-docker-${round}-${i}`)).catch(() => "");
  return result;
}

// ---- the run ------------------------------------------------------------------------------------
interface Row {
  kind: string;
  n: number;
  operator: Figures;
  baseline: Figures;
  /** The median of the rounds' ratios (operator all ÷ baseline all); for N = 1, of the medians. */
  ratioAll: number;
  rounds: number;
  /** The spread of the rounds' ratios. */
  ratioMin: number;
  ratioMax: number;
}
const rows: Row[] = [];
try {
  await kubectl(["create", "namespace", ns]);
  await kubectl(["apply", "--server-side", "-f", "-"], docs([
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: "prov" }, spec: { imageStore: { location: omnivisorImageStore() } } },
    // two Host objects per daemon: one can hand out at most 2 cores × 32 (the API's overcommit
    // limit), and N = 100 VMs of 1 CPU need more
    ...["a", "b"].flatMap((x) => [
      {
        apiVersion: "omnivisor.io/v1alpha1",
        kind: "Host",
        metadata: { name: `prov-libvirt-${x}`, annotations: { "libvirt.omnivisor.io/virt-type": "qemu", ...(values["libvirt-connections"] ? { "libvirt.omnivisor.io/connections": values["libvirt-connections"] } : {}) } },
        spec: { datacenter: "prov", driver: "libvirt", endpoint: uri, cpuOvercommit: 32 },
      },
      { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: `prov-docker-${x}` }, spec: { datacenter: "prov", driver: "docker", endpoint: `unix://${dockerSocket}`, cpuOvercommit: 32 } },
    ]),
  ]));
  operator = spawn(process.execPath, [...managerNodeFlags(), join(repoRoot, "src", "cmd", "manager.ts"), "--kubeconfig", cp.kubeconfigs.operator, "--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", ns, "--watch-namespace", ns, "--no-status-watcher", ...(values["vm-workers"] ? ["--vm-workers", values["vm-workers"]] : [])], { stdio: ["ignore", openSync(operatorLog, "w"), openSync(operatorLog, "a")] });
  step("operator started; watching VMs");
  vms = await VmWatch.start(cp.kubeconfigs.admin, ns);
  api = loadKubeConfig(cp.kubeconfigs.admin).makeApiClient(CustomObjectsApi);
  for (const h of ["prov-libvirt-a", "prov-libvirt-b", "prov-docker-a", "prov-docker-b"]) {
    await kubectl(["wait", "--for=condition=Ready", `hosts.omnivisor.io/${h}`, "--timeout=120s"]);
  }
  // one warm-up each, so neither side pays first-use costs
  for (const kind of kinds) await operatorSide(kind, 1, "warm");
  if (kinds.includes("libvirt")) await virshSide(1, "warm");
  if (kinds.includes("docker")) await dockerSide(1, "warm");
  for (const n of sizes) {
    for (const kind of kinds) {
      // one VM is one sample: N = 1 is run 5 times, alternating sides, and each figure is taken
      // over all rounds ("all" is then the median); larger N run --rounds times, each its own figures
      const rounds = n === 1 ? singleRounds : manyRounds;
      const ops: Figures[] = [];
      const bases: Figures[] = [];
      for (let r = 0; r < rounds; r++) {
        ops.push(await operatorSide(kind, n, `n${n}r${r}`));
        bases.push(kind === "libvirt" ? await virshSide(n, `n${n}r${r}`) : await dockerSide(n, `n${n}r${r}`));
      }
      const op = overRounds(ops, n);
      const base = overRounds(bases, n);
      const ratios = ops.map((o, i) => o.allMs / bases[i]!.allMs);
      const ratioAll = round2(n === 1 ? op.allMs / base.allMs : median(ratios));
      const row: Row = { kind, n, operator: op, baseline: base, ratioAll, rounds, ratioMin: round2(Math.min(...ratios)), ratioMax: round2(Math.max(...ratios)) };
      rows.push(row);
      console.log(`${kind} N=${n}: operator p50 ${op.p50Ms} ms, p95 ${op.p95Ms} ms, all ${op.allMs} ms; ${kind === "libvirt" ? "virsh" : "docker run"} p50 ${base.p50Ms} ms, p95 ${base.p95Ms} ms, all ${base.allMs} ms; ratio ${row.ratioAll} (rounds ${row.ratioMin}–${row.ratioMax})`);
    }
  }
} finally {
  await vms?.stop();
  operator?.kill("SIGTERM");
  if (operator && operator.exitCode === null) await new Promise((r) => operator!.once("exit", r));
  for (const name of (await virsh("list", "--all", "--name").catch(() => "")).split("\n").filter((l) => l.startsWith("prov"))) {
    await virsh("destroy", name).catch(() => "");
    await virsh("undefine", name).catch(() => "");
  }
  const left = (await docker("ps", "-aq", "--filter", "name=^prov").catch(() => "")).split("\n").filter(Boolean);
  if (left.length > 0) await docker("rm", "-f", ...left).catch(() => "");
  await cp.stop();
  await rm(work, { recursive: true, force: true });
}

const markdown = [
  "## Provisioning latency: operator vs the hypervisor's own CLI, same host, same run",
  "",
  factsMarkdown(facts),
  "",
  `N VMs applied at once (one create request each). Per VM: create → Running; all: until the last is Running. libvirt: 64 MiB, TCG, qcow2 overlay on the ${image} image, baseline virsh vol-create-as (overlay in the same pool) + define + start (sequential for N = 1, parallel otherwise). N = 1 is ${singleRounds} rounds, p50 / p95 over them, "all" their median; larger N are ${manyRounds} rounds each, the sides alternating, every figure the median over the rounds, the ratio the median of the rounds' ratios with their spread (min–max). Docker: busybox, 32 MiB, baseline \`docker run\`. Targets: operator ÷ baseline ≤ 1.2 at N = 1, ≤ 1.1 at N = 20 and 100; one VM create → Running under 1.5 s.`,
  "",
  "| driver | N | rounds | operator p50 / p95 | operator all | baseline p50 / p95 | baseline all | operator ÷ baseline (all) | spread over rounds |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.kind} | ${r.n} | ${r.rounds} | ${r.operator.p50Ms} / ${r.operator.p95Ms} ms | ${r.operator.allMs} ms | ${r.baseline.p50Ms} / ${r.baseline.p95Ms} ms | ${r.baseline.allMs} ms | ${r.ratioAll} | ${r.ratioMin}–${r.ratioMax} |`),
  "",
].join("\n");
console.log(`\n${markdown}`);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ facts, rows }, null, 2)}\n`);
}
if (values.markdown) {
  mkdirSync(dirname(values.markdown), { recursive: true });
  writeFileSync(values.markdown, markdown);
}
process.exit(0);
