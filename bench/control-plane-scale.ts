// Control-plane scale (issue #8, part 2): H simulated hosts (libvirt's test driver, one node XML
// each, served by the local libvirtd) and V VirtualMachines, reconciled by the real operator
// process against a private kube-apiserver + etcd. Reports time to converge, operator peak RSS and
// CPU seconds, API requests per VM (the API server's own counters), and writes per minute once
// converged — with M more hosts whose live usage moves (Docker hosts on a private dockerd with no
// containers, reading this machine's /proc at every observation), so the figure shows that moving
// usage causes no writes (ADR 0037). Then the status watcher: time from a change made on the hypervisor to the VM's
// status showing it, on the local dockerd (a test-driver connection's world is private to it, so
// no outside change can reach the operator's simulated hosts).
//
// A benchmark reports; it never fails on a timing. Usage:
//   node bench/control-plane-scale.ts [--hosts 100] [--vms 10000] [--moving-hosts 10] [--samples 20] [--timeout 900]
//                                     [--json FILE] [--markdown FILE]
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { ControlPlane } from "../src/local/control-plane.ts";
import { repoRoot } from "../src/local/toolchain.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";
import { VmWatch } from "./vm-watch.ts";
import { PrivateDockerd } from "../tests/harness/private-dockerd.ts";
import { managerHeapMiB, managerNodeFlags } from "../src/cmd/manager-node.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "100" },
    vms: { type: "string", default: "10000" },
    "moving-hosts": { type: "string", default: "10" },
    samples: { type: "string", default: "20" },
    timeout: { type: "string", default: "900" },
    "steady-seconds": { type: "string", default: "60" },
    // the operator's V8 old-space limit (--max-old-space-size); default: as the product runs it, 0: V8's own
    "operator-heap-mb": { type: "string", default: String(managerHeapMiB) },
    json: { type: "string" },
    markdown: { type: "string" },
  },
});
const H = Number(values.hosts);
const V = Number(values.vms);
const M = Number(values["moving-hosts"]);
const samples = Number(values.samples);
const libvirtSocket = "/var/run/libvirt/libvirt-sock";
const dockerSocket = "/var/run/docker.sock";
const facts = runFacts();
console.log(factsMarkdown(facts));

const work = mkdtempSync(join(tmpdir(), "omnivisor-bench-scale-"));
const cp = await ControlPlane.start({ controllerManager: false });
/** The private dockerd of the hosts whose usage moves (--moving-hosts). */
let movingDockerd: PrivateDockerd | undefined;
const kubectl = (args: string[], input?: string): Promise<string> => cp.kubectl(args, input);
const yaml = (objs: object[]): string => objs.map((o) => JSON.stringify(o)).join("\n---\n");
const children: ChildProcess[] = [];
const start = (script: string, args: string[]): ChildProcess => {
  const nodeFlags = script === "manager.ts" ? managerNodeFlags(Number(values["operator-heap-mb"])) : [];
  const child = spawn(process.execPath, [...nodeFlags, join(repoRoot, "src", "cmd", script), "--kubeconfig", cp.kubeconfigs.operator, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.resume();
  children.push(child);
  return child;
};

/** apiserver_request_total summed: all requests, and the mutating ones. */
async function requestCounts(): Promise<{ all: number; writes: number; writesBy: Record<string, number> }> {
  const text = await kubectl(["get", "--raw", "/metrics"]);
  let all = 0;
  let writes = 0;
  const writesBy: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const n = Number(line.slice(line.lastIndexOf(" ") + 1));
    all += n;
    const verb = /verb="(POST|PUT|PATCH|DELETE|APPLY|DELETECOLLECTION)"/.exec(line)?.[1];
    if (!verb) continue;
    // the operator writes omnivisor.io objects and Events; the API server's own housekeeping
    // (its Lease, the kubernetes Service's endpoints) is not the operator's
    if (!/group="omnivisor\.io"/.test(line) && !/resource="events"/.test(line)) continue;
    writes += n;
    const what = `${verb} ${/resource="([^"]*)"/.exec(line)?.[1] ?? "?"}${/subresource="([^"]+)"/.exec(line)?.[1] ? `/${/subresource="([^"]+)"/.exec(line)?.[1]}` : ""}`;
    writesBy[what] = (writesBy[what] ?? 0) + n;
  }
  return { all, writes, writesBy };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Peak RSS (VmHWM) in MiB and CPU seconds (user + system) of a process. */
function processFigures(pid: number): { peakRssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
  return { peakRssMiB: Math.round(hwm / 1024), cpuSeconds: Math.round((ticks / 100) * 10) / 10 };
}

/** CPU seconds so far of the private kube-apiserver and etcd. */
function serverCpu(): { apiServer: number; etcd: number } {
  const out = { apiServer: 0, etcd: 0 };
  // the components may run under a supervisor: look at its children too
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return []; // a kernel without /proc/…/children: the supervisor's own figures only
    }
  };
  for (const pid of cp.pids().flatMap((p) => [p, ...children(p)])) {
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    const cpu = processFigures(pid).cpuSeconds;
    if (comm === "kube-apiserver") out.apiServer += cpu;
    else if (comm === "etcd") out.etcd += cpu;
  }
  return out;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

interface ScaleResult {
  hosts: number;
  vms: number;
  convergedSeconds: number | null;
  runningAtEnd: number;
  operatorPeakRssMiB: number;
  operatorCpuSeconds: number;
  apiRequestsPerVm: number;
  apiWritesPerVm: number;
  steadyWritesPerMinute: number;
  /** What was written once converged, by verb and resource. */
  steadyWrites: Record<string, number>;
  /** What the operator wrote until convergence, by verb and resource. */
  convergenceWrites: Record<string, number>;
  /** CPU seconds of kube-apiserver and etcd until convergence (they share the 2 cores with the operator). */
  apiServerCpuSeconds: number;
  etcdCpuSeconds: number;
}

async function scale(): Promise<ScaleResult> {
  await kubectl(["create", "namespace", "omnivisor-system"]);
  await kubectl(["create", "namespace", "scale"]);
  const nodes = join(work, "nodes");
  mkdirSync(nodes, { recursive: true });
  const infra: object[] = [{ apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: "sim" }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } }];
  for (let h = 0; h < H; h++) {
    const file = join(nodes, `host-${h}.xml`);
    // 128 CPUs and 1 TiB each: 10,000 VMs of 1 CPU / 64 MiB fit on 100 of them with room to spare
    writeFileSync(file, "<node><cpu><nodes>1</nodes><sockets>2</sockets><cores>32</cores><threads>2</threads><active>128</active><mhz>2600</mhz><model>x86_64</model></cpu><memory>1073741824</memory></node>");
    infra.push({ apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: `sim-${h}` }, spec: { datacenter: "sim", driver: "libvirt", endpoint: `test+unix://${file}?socket=${libvirtSocket}` } });
  }
  // hosts whose usage moves (the test driver reports none): nothing runs on them, nothing else changes
  if (M > 0) movingDockerd = await PrivateDockerd.start();
  for (let h = 0; h < M; h++) {
    infra.push({ apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: `live-${h}` }, spec: { datacenter: "sim", driver: "docker", endpoint: movingDockerd!.endpoint } });
  }
  await kubectl(["apply", "--server-side", "-f", "-"], yaml(infra));
  for (let i = 0; i < V; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, V - i) }, (_, k) => ({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: `vm-${i + k}`, namespace: "scale" },
      spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], networks: [], placement: { driver: "libvirt" } },
    }));
    await kubectl(["apply", "--server-side", "-f", "-"], yaml(batch));
  }
  // phases followed by one watch (listing 10,000 objects every few seconds would load the API
  // server more than the operator does), on an informer that restarts after any error; its
  // initial list is made before the request count starts
  const vms = await VmWatch.start(cp.kubeconfigs.admin, "scale");
  const phase = new Map<string, string>(vms.all().map((vm) => [vm.metadata.name, vm.status?.phase ?? ""]));
  let converged: number | null = null;
  let allRunning = (): void => undefined;
  const done = new Promise<void>((resolve) => (allRunning = resolve));
  let running = 0;
  console.log(`${H} hosts and ${V} VirtualMachines created; starting the operator`);
  const before = await requestCounts();
  const serversBefore = serverCpu();
  const t0 = performance.now();
  // The simulated hosts are observed by polling, as in every earlier run of this benchmark: in a
  // fleet, a status watcher on each host's node follows it, not the manager.
  const operator = start("manager.ts", ["--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", "omnivisor-system", "--no-status-watcher"]);
  vms.onChange((name, obj) => {
    const before = phase.get(name);
    const now = obj.status?.phase ?? "";
    phase.set(name, now);
    if (before !== "Running" && now === "Running") running++;
    if (before === "Running" && now !== "Running") running--;
    if (running === V && converged === null) {
      converged = Math.round((performance.now() - t0) / 100) / 10;
      allRunning();
    }
  });
  const deadline = t0 + Number(values.timeout) * 1000;
  while (performance.now() < deadline && converged === null) {
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    const counts: Record<string, number> = {};
    for (const p of phase.values()) counts[p || "new"] = (counts[p || "new"] ?? 0) + 1;
    console.log(`  ${Math.round((performance.now() - t0) / 1000)} s: ${running}/${V} Running ${JSON.stringify(counts)}; operator peak RSS ${processFigures(operator.pid!).peakRssMiB} MiB`);
  }
  await vms.stop();
  const atConvergence = await requestCounts();
  const figures = processFigures(operator.pid!);
  const serversAfter = serverCpu();
  // steady state: no spec changes, nothing moving on the hosts. The Hosts' last re-observation
  // (every 15 s) still lands after the VMs converge, so measuring starts after a settle period.
  await new Promise((r) => setTimeout(r, 30_000));
  const steadySeconds = Number(values["steady-seconds"]);
  const steadyBefore = await requestCounts();
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const steadyAfter = await requestCounts();
  // the benchmark's own requests: its watch, two metric scrapes
  const ownRequests = 3;
  operator.kill("SIGTERM");
  return {
    hosts: H,
    vms: V,
    convergedSeconds: converged,
    runningAtEnd: running,
    operatorPeakRssMiB: figures.peakRssMiB,
    operatorCpuSeconds: figures.cpuSeconds,
    apiRequestsPerVm: Math.round(((atConvergence.all - before.all - ownRequests) / V) * 10) / 10,
    apiWritesPerVm: Math.round(((atConvergence.writes - before.writes) / V) * 10) / 10,
    steadyWritesPerMinute: Math.round(((steadyAfter.writes - steadyBefore.writes) / steadySeconds) * 60 * 10) / 10,
    steadyWrites: delta(steadyAfter.writesBy, steadyBefore.writesBy),
    convergenceWrites: delta(atConvergence.writesBy, before.writesBy),
    apiServerCpuSeconds: Math.round((serversAfter.apiServer - serversBefore.apiServer) * 10) / 10,
    etcdCpuSeconds: Math.round((serversAfter.etcd - serversBefore.etcd) * 10) / 10,
  };
}

interface WatcherResult {
  driver: string;
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

/** Time from `docker kill` to the VM's status saying it is no longer Running, measured by a watch. */
async function statusWatcher(): Promise<WatcherResult> {
  const ns = "watcher";
  const count = 5;
  await kubectl(["create", "namespace", ns]);
  await kubectl(["apply", "--server-side", "-f", "-"], yaml([
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: "bench-docker" }, spec: { datacenter: "sim", node: "bench-node", driver: "docker", endpoint: `unix://${dockerSocket}`, cpuOvercommit: 8 } },
    ...Array.from({ length: count }, (_, i) => ({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: `ct-${i}`, namespace: ns },
      spec: { cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "busybox:local" }], placement: { hosts: ["bench-docker"] } },
    })),
  ]));
  start("manager.ts", ["--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", ns, "--watch-namespace", ns, "--no-status-watcher"]);
  start("status-watcher.ts", ["--node", "bench-node", "--lease-namespace", ns, "--watch-namespace", ns]);

  const vms = await VmWatch.start(cp.kubeconfigs.admin, ns);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const name = `ct-${i % count}`;
      await vms.when(name, (p) => p === "Running", 120_000); // the operator has (re)started it
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = performance.now();
      await run("docker", ["-H", `unix://${dockerSocket}`, "kill", `${ns}.${name}`]);
      const seenAt = await vms.when(name, (p) => p !== "Running", 30_000);
      latencies.push(seenAt - killedAt);
    }
  } finally {
    await vms.stop();
    await kubectl(["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => "");
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  return { driver: "docker (docker kill)", samples: sorted.length, p50Ms: Math.round(percentile(sorted, 50)), p95Ms: Math.round(percentile(sorted, 95)), maxMs: Math.round(sorted.at(-1) ?? NaN) };
}

let result: { facts: typeof facts; scale: ScaleResult; statusWatcher: WatcherResult } | undefined;
try {
  const s = await scale();
  const w = await statusWatcher();
  result = { facts, scale: s, statusWatcher: w };
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : Promise.resolve())));
  // containers of the watcher part that deletion may have missed
  const left = (await run("docker", ["-H", `unix://${dockerSocket}`, "ps", "-aq", "--filter", "name=^watcher\\."]).catch(() => ({ stdout: "" }))).stdout.split("\n").filter(Boolean);
  if (left.length > 0) await run("docker", ["-H", `unix://${dockerSocket}`, "rm", "-f", ...left]).catch(() => undefined);
  await cp.stop();
  await movingDockerd?.stop();
  rmSync(work, { recursive: true, force: true });
}

const s = result.scale;
const w = result.statusWatcher;
const markdown = [
  "## Control-plane scale",
  "",
  factsMarkdown(facts),
  "",
  `${s.hosts} simulated hosts (libvirt test driver through the local libvirtd) and ${M} Docker hosts whose live usage moves (a private dockerd with no containers), ${s.vms} VirtualMachines created before the operator starts; one operator process, private kube-apiserver + etcd on the same 2 cores.`,
  "",
  "| measure | result | target |",
  "| --- | ---: | ---: |",
  `| time until all VMs Running | ${s.convergedSeconds === null ? `not reached (${s.runningAtEnd} of ${s.vms} after ${values.timeout} s)` : `${s.convergedSeconds} s`} | < 180 s |`,
  `| operator peak RSS (${Number(values["operator-heap-mb"]) > 0 ? `V8 old space limited to ${values["operator-heap-mb"]} MiB, as the product runs it` : "V8's default heap limit"}) | ${s.operatorPeakRssMiB} MiB | < 500 MB |`,
  `| operator CPU (kube-apiserver / etcd over the same time) | ${s.operatorCpuSeconds} s (${s.apiServerCpuSeconds} s / ${s.etcdCpuSeconds} s) | |`,
  `| API requests per VM (all / operator writes) | ${s.apiRequestsPerVm} / ${s.apiWritesPerVm} (${Object.entries(s.convergenceWrites).map(([k, v]) => `${k}: ${v}`).join(", ")}) | |`,
  `| operator writes per minute once converged (after 30 s to settle) | ${s.steadyWritesPerMinute}${Object.keys(s.steadyWrites).length > 0 ? ` (${Object.entries(s.steadyWrites).map(([k, v]) => `${k}: ${v}`).join(", ")} in ${values["steady-seconds"]} s)` : ""} | 0 |`,
  `| status watcher: change on the host → VM status (${w.driver}, ${w.samples} samples) | p50 ${w.p50Ms} ms, p95 ${w.p95Ms} ms, max ${w.maxMs} ms | p95 < 1 s |`,
  "",
].join("\n");
console.log(`\n${markdown}`);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
}
if (values.markdown) {
  mkdirSync(dirname(values.markdown), { recursive: true });
  writeFileSync(values.markdown, markdown);
}
process.exit(0);
