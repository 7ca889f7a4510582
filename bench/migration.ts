// Live migration (issue #20): the operator's VMMigration against `virsh migrate --live --p2p` of
// the same kind of guest between the same two hosts, in the same run. Per move: wall time
// (operator: the VMMigration's create request sent → a watch shows status.phase Succeeded;
// baseline: virsh spawned → exited) and the guest's downtime at the switch-over.
//
// Hosts, as tests/moves/vm-migration.test.ts sets them up: two private libvirtds listening on
// loopback TCP (migration_address / migration_host 127.0.0.2, port ranges of their own), one
// storage pool directory "shared" defined on both (as NFS would be), Hosts A and B naming the same
// shared storage, so a move sends memory only. Virt type kvm, or qemu (TCG) where /dev/kvm is
// kvm_pvm (ADR 0003). The guest is the tiny VM with 256 MiB, 1 CPU and no networks: with ≥ 200 MiB
// it keeps rewriting 20 MiB/s of ballast memory, so every move has dirty pages to chase. Moves
// start once its console shows heartbeats and the ballast.
//
// Two guests, not one. A domain moved by virsh behind the operator's back leaves its VirtualMachine
// naming the old host; the VM controller finds it by uid, and a VM missing from its host (with no
// VMMigration in flight) is made again there — the baseline would fight the operator. So the
// baseline moves a second guest, made through the libvirt driver itself (createVm with driverSpec()
// of the operator's VirtualMachine and hostConnection() of the Host, as the VM controller calls
// them) under a namespace the operator does not watch. Its domain XML is the operator's guest's but
// for name, UUID, identity metadata and the paths derived from them (disk overlay, console log);
// every run checks that and stores the differing lines in the JSON. Both guests run all the time,
// so each move competes with the other guest's load alike on both sides.
//
// The same migration on both sides. The virsh flags are derived from the driver's own
// migrationCall() for this move (shared storage, live, no bandwidth limit — the VMMigration sets
// none): PEER2PEER | LIVE | PERSIST_DEST | UNDEFINE_SOURCE | UNSAFE → --p2p --live --persistent
// --undefinesource --unsafe, and the destination URI is the driver's destinationUri() of the
// target Host; neither side passes a migrate URI (the destination's migration_host is used).
//
// Rounds (--rounds, default 8) after one warm-up round: at a round's start both guests are on the
// same host and both move to the other; the next round moves them back. The side that goes first
// follows virsh, operator, operator, virsh (ABBA) over each four rounds, so every direction gets each
// order equally: with a plain alternation the order coincided with the direction, and the first
// mover of a pair is the slower one (by 60-120 ms here, either side), which made one direction's
// ratio 1.25 and the other's 1.0 for the order, not the operator. A round's ratio (operator ÷ virsh
// wall time) compares moves in the same direction, and over the run each side makes exactly the same
// moves (an odd --rounds makes one direction once more, on both sides alike). ratio = median of the
// rounds' ratios, with their spread. Between moves the moved guest must show a new heartbeat on
// its new host (and the VirtualMachine be Ready there), then --settle-ms pass.
//
// Downtime: the operator's status.downtimeMs (the driver's reading of the destination's completed
// job stats), and for both guests `virsh domjobinfo --completed` on the destination after the
// move ("Total downtime", and "Time elapsed": the hypervisor's own time for the move, so wall −
// elapsed is what each side adds around it). The operator's steps are timed from the watch too
// (create → Running/Migrating: the job started; → Running/HandingOver: the job ended and a pass
// found the VM on the target; → Succeeded: the VirtualMachine recorded there), with
// status.startedAt / completedAt beside them, to show where its extra time goes.
//
// After the rounds, --driver-rounds pairs (default 4) take the control plane out: the baseline
// guest moved by the driver's own migrateVm (on sessions opened beforehand), each pair there and
// back with virsh, the driver first in every other pair. Not part of the ratio: it shows whether
// the operator's extra time is the control plane's or the driver's.
//
// Usage: node bench/migration.ts [--rounds 8] [--driver-rounds 4] [--settle-ms 2000] [--no-status-watcher] [--json FILE] [--markdown FILE]
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { vmIdentity, type VmIdentity } from "../drivers/contract/index.ts";
import { LibvirtDriver, type LibvirtSession } from "../drivers/libvirt/index.ts";
import { destinationUri } from "../drivers/libvirt/migrate.ts";
import { migrationCall, sharesStorage } from "../drivers/libvirt/migration-job.ts";
import { Flags, MigrateParam } from "../drivers/libvirt/rpc/procedures.ts";
import { hostConnection } from "../src/fleet/connection.ts";
import { driverSpec } from "../src/fleet/driver-spec.ts";
import { vmMigrationsType, type DatacenterObject, type HostObject, type VmMigrationObject, type VmObject } from "../src/fleet/kinds.ts";
import { managerNodeFlags } from "../src/cmd/manager-node.ts";
import { ControlPlane } from "../src/local/control-plane.ts";
import { freePort } from "../src/local/ports.ts";
import { repoRoot } from "../src/local/toolchain.ts";
import { Informer } from "../src/runtime/informer.ts";
import { loadKubeConfig } from "../src/runtime/kubeconfig.ts";
import { createLogger } from "../src/runtime/log.ts";
import { ResourceClient } from "../src/runtime/resource.ts";
import { imageUpload } from "../tests/harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../tests/harness/private-libvirtd.ts";
import { requireLibvirt, tinyVmImage } from "../tests/harness/services.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "8" },
    "settle-ms": { type: "string", default: "2000" },
    "driver-rounds": { type: "string", default: "4" },
    "no-status-watcher": { type: "boolean", default: false },
    json: { type: "string" },
    markdown: { type: "string" },
  },
});
const rounds = Math.max(1, Number(values.rounds));
const settleMs = Math.max(0, Number(values["settle-ms"]));
const driverRounds = Math.max(0, Number(values["driver-rounds"]));
const facts = runFacts();
const t00 = performance.now();
/** Progress on stderr, so a run that hangs says where. */
const step = (what: string): void => void process.stderr.write(`[${((performance.now() - t00) / 1000).toFixed(1)} s] ${what}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;
const moveTimeoutMs = 180_000;

console.log(factsMarkdown(facts));

const id = randomBytes(3).toString("hex");
const ns = "bench-mig";
/** The baseline guest's namespace: the operator watches only `ns`. */
const baselineNs = "bench-mig-virsh";
const dc = "bench-mig";
const hostA = "bench-mig-a";
const hostB = "bench-mig-b";
const vmName = "web";
const sharedDir = join(tmpdir(), `omnivisor-bench-mig-${id}`);
const operatorLog = join(tmpdir(), "omnivisor-bench-migration-operator.log");
const daemons = new Map<string, PrivateLibvirtd>();
const endpoints = new Map<string, string>();
const other = (h: string): string => (h === hostA ? hostB : hostA);
const virsh = async (host: string, ...args: string[]): Promise<string> => (await run("virsh", ["-q", "-c", endpoints.get(host)!, ...args], { timeout: 60_000 })).stdout.trim();
const domstate = (host: string, domain: string): Promise<string | undefined> => virsh(host, "domstate", domain).catch(() => undefined);

/** `virsh domjobinfo --completed` on the destination, as key → number (ms, bytes as printed). */
async function completedJob(host: string, domain: string): Promise<Record<string, string>> {
  const text = await virsh(host, "domjobinfo", "--completed", domain).catch((err: Error) => `error: ${err.message}`);
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}
const msOf = (v: string | undefined): number | undefined => {
  const m = /^(\d+(?:\.\d+)?)\s*ms$/.exec(v ?? "");
  return m ? Number(m[1]) : undefined;
};

/** The heartbeat numbers and whether the ballast runs, from a guest's console log on a host. */
async function consoleOf(host: string, domain: string): Promise<{ beats: number[]; ballast: boolean }> {
  const text = await readFile(join(daemons.get(host)!.dir, "log", "qemu", `${domain}-console.log`), "utf8").catch(() => "");
  return { beats: [...text.matchAll(/omnivisor-tiny-vm: heartbeat (\d+)/g)].map((m) => Number(m[1])), ballast: text.includes("omnivisor-tiny-vm: ballast") };
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (operator log: ${operatorLog})`);
    await sleep(intervalMs);
  }
}

/**
 * The guest's console on `host` shows a heartbeat after `after`, and (booting) its ballast running.
 * A moved guest's console log on the target holds only what it printed there.
 */
const aliveOn = (host: string, domain: string, after: number, booting = false, timeoutMs = 60_000): Promise<number> =>
  waitUntil(`${domain}: a heartbeat after ${after} on ${host}${booting ? ", and its ballast" : ""}`, async () => {
    const c = await consoleOf(host, domain);
    const last = Math.max(-1, ...c.beats);
    return (c.ballast || !booting) && last > after ? last : undefined;
  }, timeoutMs, 250);

/** virsh options for the driver's flags and parameters of this move; an unknown flag stops the run. */
function virshOptions(call: { flags: number; params: { field: string; value: unknown }[] }): string[] {
  const known: [number, string][] = [
    [Flags.MIGRATE_LIVE, "--live"],
    [Flags.MIGRATE_PEER2PEER, "--p2p"],
    [Flags.MIGRATE_PERSIST_DEST, "--persistent"],
    [Flags.MIGRATE_UNDEFINE_SOURCE, "--undefinesource"],
    [Flags.MIGRATE_NON_SHARED_DISK, "--copy-storage-all"],
    [Flags.MIGRATE_UNSAFE, "--unsafe"],
    [Flags.MIGRATE_OFFLINE, "--offline"],
  ];
  let left = call.flags;
  const options: string[] = [];
  for (const [bit, option] of known) {
    if ((call.flags & bit) === 0) continue;
    options.push(option);
    left &= ~bit;
  }
  if (left !== 0) throw new Error(`the driver's migration flags ${call.flags} include ${left}, which this benchmark cannot give virsh`);
  for (const p of call.params) {
    if (p.field === MigrateParam.BANDWIDTH) options.push("--bandwidth", String(p.value));
    else throw new Error(`the driver's migration parameter ${p.field} has no virsh option here`);
  }
  return options;
}

// ---- results ----------------------------------------------------------------------------------
interface OperatorMove {
  wallMs: number;
  /** status.downtimeMs, as the operator reports it. */
  downtimeMs: number | undefined;
  /** status.startedAt → status.completedAt. */
  startedToCompletedMs: number | undefined;
  /** Since the create request was sent: when the watch first showed each phase / Ready reason. */
  seenMs: Record<string, number>;
  /** status.startedAt and completedAt since the create request was sent (wall clocks of one machine). */
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  /** The destination's completed job: Total downtime and Time elapsed. */
  hypervisorDowntimeMs: number | undefined;
  hypervisorElapsedMs: number | undefined;
}
interface VirshMove {
  wallMs: number;
  hypervisorDowntimeMs: number | undefined;
  hypervisorElapsedMs: number | undefined;
}
interface DriverMove {
  wallMs: number;
  /** What migrateVm returned. */
  downtimeMs: number | undefined;
  hypervisorDowntimeMs: number | undefined;
  hypervisorElapsedMs: number | undefined;
}
interface DriverPair {
  pair: number;
  driver: DriverMove & { from: string; to: string };
  virsh: VirshMove & { from: string; to: string };
}
interface Round {
  round: number;
  from: string;
  to: string;
  first: "operator" | "virsh";
  operator: OperatorMove;
  virsh: VirshMove;
  ratio: number;
  /** The machine's 1-minute load average when the round began (this run's own guests and control plane included). */
  load1: number;
}

// ---- the run ------------------------------------------------------------------------------------
let cp: ControlPlane | undefined;
let operator: ChildProcess | undefined;
let migrations: Informer<VmMigrationObject> | undefined;
let baselineSession: LibvirtSession | undefined;
const listeners = new Set<(m: VmMigrationObject, at: number) => void>();
const results: Round[] = [];
const driverPairs: DriverPair[] = [];
const warmUp: Round[] = [];
let virshArgs: string[] = [];
let xmlDifferences: string[] = [];
let virtType = "qemu";
let opDomain = "";
let baseDomain = "";
try {
  virtType = (await requireLibvirt()).virtType;
  await mkdir(sharedDir, { recursive: true });
  // libvirt refuses 127.0.0.1 as migration_host ("the address of the local machine"); another
  // loopback address keeps the migration stream on loopback. Port ranges other than the test's.
  const qemuConf = (min: number) => [`migration_address = "127.0.0.2"`, `migration_host = "127.0.0.2"`, `migration_port_min = ${min}`, `migration_port_max = ${min + 49}`];
  const [portA, portB] = [await freePort(), await freePort()];
  step(`starting two private libvirtds (virt type ${virtType}; shared pool ${sharedDir})`);
  const [a, b] = await Promise.all([
    startPrivateLibvirtd(`bench-mig-a-${id}`, { tcp: { address: "127.0.0.1", port: portA }, qemuConf: qemuConf(49600), pools: [{ name: "shared", path: sharedDir }] }),
    startPrivateLibvirtd(`bench-mig-b-${id}`, { tcp: { address: "127.0.0.1", port: portB }, qemuConf: qemuConf(49650), pools: [{ name: "shared", path: sharedDir }] }),
  ]);
  daemons.set(hostA, a).set(hostB, b);
  endpoints.set(hostA, `qemu+tcp://127.0.0.1:${portA}/system`).set(hostB, `qemu+tcp://127.0.0.1:${portB}/system`);
  const upload = (await new LibvirtDriver().connect({ endpoint: endpoints.get(hostA)!, libvirt: { storagePool: "shared" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await upload.uploadImage("tiny-vm", await imageUpload(tinyVmImage()));
  } finally {
    await upload.close();
  }
  await virsh(hostB, "pool-refresh", "shared");

  step("starting the control plane");
  cp = await ControlPlane.start({ controllerManager: false });
  const kubectl = (args: string[], input?: string): Promise<string> => cp!.kubectl(args, input);
  const docs = (objs: object[]): string => objs.map((o) => JSON.stringify(o)).join("\n---\n");
  const host = (name: string) => ({
    apiVersion: "omnivisor.io/v1alpha1",
    kind: "Host",
    metadata: { name, annotations: { "libvirt.omnivisor.io/storage-pool": "shared", "libvirt.omnivisor.io/shared-storage": `bench-mig-${id}`, "libvirt.omnivisor.io/virt-type": virtType } },
    spec: { datacenter: dc, driver: "libvirt", endpoint: endpoints.get(name)!, cpuOvercommit: 8 },
  });
  await kubectl(["create", "namespace", ns]);
  await kubectl(["apply", "--server-side", "-f", "-"], docs([
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "tiny", sources: { libvirt: "tiny-vm" } }] } },
    host(hostA),
    host(hostB),
    {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: vmName, namespace: ns },
      spec: { cpus: 1, memory: "256Mi", disks: [{ name: "root", image: "tiny", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 } },
    },
  ]));
  operator = spawn(
    process.execPath,
    [...managerNodeFlags(), join(repoRoot, "src", "cmd", "manager.ts"), "--kubeconfig", cp.kubeconfigs.operator, "--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", ns, "--watch-namespace", ns, ...(values["no-status-watcher"] ? ["--no-status-watcher"] : [])],
    { stdio: ["ignore", openSync(operatorLog, "w"), openSync(operatorLog, "a")] },
  );
  step(`operator started (log: ${operatorLog})`);
  const kc = loadKubeConfig(cp.kubeconfigs.admin);
  const api = kc.makeApiClient(CustomObjectsApi);
  migrations = new Informer<VmMigrationObject>(kc, new ResourceClient<VmMigrationObject>(kc, vmMigrationsType), createLogger({ level: "error", write: (l) => process.stderr.write(`${l}\n`) }), { namespace: ns, backoff: { baseMs: 100, capMs: 2_000 } });
  const emit = (m: VmMigrationObject): void => {
    const at = performance.now();
    for (const l of [...listeners]) l(m, at);
  };
  migrations.on({ added: emit, updated: (_old, m) => emit(m) });
  migrations.start();
  await migrations.waitForSync();
  for (const h of [hostA, hostB]) await kubectl(["wait", "--for=condition=Ready", `hosts.omnivisor.io/${h}`, "--timeout=120s"]);

  const getJson = async <T>(resource: string, name: string, namespace?: string): Promise<T> => JSON.parse(await kubectl(["get", resource, name, ...(namespace ? ["-n", namespace] : []), "-o", "json"])) as T;
  const ready = (vm: VmObject | undefined): boolean => vm?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const vmOn = (where: string): Promise<VmObject> =>
    waitUntil(`VirtualMachine ${vmName} Ready on ${where}`, async () => {
      const vm = await getJson<VmObject>("virtualmachines.omnivisor.io", vmName, ns).catch(() => undefined);
      return vm?.status?.host === where && ready(vm) ? vm : undefined;
    }, 120_000, 200);
  const placed = await waitUntil(`VirtualMachine ${vmName} placed and Ready`, async () => {
    const vm = await getJson<VmObject>("virtualmachines.omnivisor.io", vmName, ns).catch(() => undefined);
    return vm?.status?.host && ready(vm) ? vm : undefined;
  }, 180_000, 300);
  let at = placed.status!.host!;
  const identity = vmIdentity({ uid: placed.metadata.uid!, namespace: ns, name: vmName });
  opDomain = identity.name;
  step(`${vmName} runs on ${at} as ${opDomain}; waiting for its heartbeats and ballast`);

  // The baseline guest: the same spec through the same driver calls, in a namespace nobody watches.
  const hostObjs = new Map<string, HostObject>();
  for (const h of [hostA, hostB]) hostObjs.set(h, await getJson<HostObject>("hosts.omnivisor.io", h));
  const hostObj = hostObjs.get(at)!;
  const dcObj = await getJson<DatacenterObject>("datacenters.omnivisor.io", dc);
  const baseIdentity: VmIdentity = vmIdentity({ uid: randomUUID(), namespace: baselineNs, name: vmName });
  baseDomain = baseIdentity.name;
  baselineSession = (await new LibvirtDriver().connect(hostConnection(hostObj), undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  await baselineSession.createVm(baseIdentity, driverSpec(placed, "libvirt", { datacenter: dcObj }));
  await baselineSession.close();
  baselineSession = undefined;
  step(`baseline guest ${baseDomain} created on ${at} through the driver`);
  let beatOp = await aliveOn(at, opDomain, -1, true, 180_000);
  let beatBase = await aliveOn(at, baseDomain, -1, true, 180_000);
  step(`both guests beat and dirty memory (heartbeats ${beatOp} / ${beatBase})`);

  // The two domains must differ only in identity: name, UUID, the uid metadata and paths from them.
  const [xmlOp, xmlBase] = [await virsh(at, "dumpxml", "--inactive", opDomain), await virsh(at, "dumpxml", "--inactive", baseDomain)];
  const uuidOf = (xml: string): string => /<uuid>([^<]+)<\/uuid>/.exec(xml)?.[1] ?? "?";
  const normalise = (xml: string, domain: string, uid: string, namespace: string): string[] =>
    xml.replaceAll(uuidOf(xml), "UUID").replaceAll(domain, "DOMAIN").replaceAll(uid, "UID").replaceAll(`"${namespace}"`, '"NS"').replaceAll(`>${namespace}<`, ">NS<").split("\n").map((l) => l.trim());
  const linesOp = normalise(xmlOp, opDomain, identity.uid, ns);
  const linesBase = normalise(xmlBase, baseDomain, baseIdentity.uid, baselineNs);
  xmlDifferences = [...linesOp.filter((l) => !linesBase.includes(l)).map((l) => `operator: ${l}`), ...linesBase.filter((l) => !linesOp.includes(l)).map((l) => `baseline: ${l}`)];
  step(xmlDifferences.length === 0 ? "the two domain XMLs are the same but for identity" : `the two domain XMLs differ beyond identity:\n  ${xmlDifferences.join("\n  ")}`);

  // The virsh flags from the driver's own call for this move.
  const target = (to: string) => ({ host: hostConnection(hostObjs.get(to)!), live: true });
  const call = migrationCall({ power: "Running", live: true, copyDisks: !sharesStorage(hostConnection(hostObj).libvirt?.sharedStorage, target(other(at)).host.libvirt?.sharedStorage) });
  virshArgs = virshOptions(call);
  step(`driver flags ${call.flags} → virsh migrate ${virshArgs.join(" ")}`);

  let seq = 0;
  const operatorMove = async (from: string, to: string): Promise<OperatorMove> => {
    const name = `move-${seq++}`;
    const seen: Record<string, number> = {};
    let t0 = 0;
    let off = (): void => undefined;
    const done = new Promise<VmMigrationObject>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`VMMigration ${name}: not Succeeded within ${moveTimeoutMs} ms (operator log: ${operatorLog})`)), moveTimeoutMs);
      const listener = (m: VmMigrationObject, when: number): void => {
        if (m.metadata.name !== name) return;
        const phase = m.status?.phase ?? "(no status)";
        const reason = m.status?.conditions?.find((c) => c.type === "Ready")?.reason;
        seen[reason ? `${phase}/${reason}` : phase] ??= Math.round(when - t0);
        if (phase === "Succeeded") {
          clearTimeout(timer);
          resolve(m);
        } else if (phase === "Failed" || phase === "Cancelled") {
          clearTimeout(timer);
          reject(new Error(`VMMigration ${name} ${phase}: ${m.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "?"}`));
        }
      };
      listeners.add(listener);
      off = () => listeners.delete(listener);
    });
    const body = { apiVersion: "omnivisor.io/v1alpha1", kind: "VMMigration", metadata: { name, namespace: ns }, spec: { virtualMachine: vmName, targetHost: to } };
    t0 = performance.now();
    const e0 = Date.now();
    let m: VmMigrationObject;
    try {
      await api.createNamespacedCustomObject({ group: "omnivisor.io", version: "v1alpha1", namespace: ns, plural: "vmmigrations", body });
      m = await done;
    } finally {
      off();
    }
    const wallMs = seen["Succeeded/Succeeded"] ?? seen["Succeeded"] ?? Math.round(performance.now() - t0);
    const s = m.status!;
    const since = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) - e0 : undefined);
    const job = await completedJob(to, opDomain);
    if (s.sourceHost !== from || s.targetHost !== to || s.mode !== "Live") throw new Error(`VMMigration ${name}: ${JSON.stringify({ sourceHost: s.sourceHost, targetHost: s.targetHost, mode: s.mode })}, expected a live move ${from} → ${to}`);
    return {
      wallMs,
      downtimeMs: s.downtimeMs,
      startedToCompletedMs: s.startedAt && s.completedAt ? Date.parse(s.completedAt) - Date.parse(s.startedAt) : undefined,
      seenMs: seen,
      startedAtMs: since(s.startedAt),
      completedAtMs: since(s.completedAt),
      hypervisorDowntimeMs: msOf(job["Total downtime"]),
      hypervisorElapsedMs: msOf(job["Time elapsed"]),
    };
  };

  const virshMove = async (from: string, to: string): Promise<VirshMove> => {
    const dconnuri = destinationUri(target(to));
    const t = performance.now();
    await run("virsh", ["-c", endpoints.get(from)!, "migrate", ...virshArgs, baseDomain, dconnuri], { timeout: moveTimeoutMs, killSignal: "SIGKILL" });
    const wallMs = Math.round(performance.now() - t);
    const job = await completedJob(to, baseDomain);
    return { wallMs, hypervisorDowntimeMs: msOf(job["Total downtime"]), hypervisorElapsedMs: msOf(job["Time elapsed"]) };
  };

  /** After a move: there only, running, its guest still counting; the operator's VM recorded there. */
  const settled = async (domain: string, from: string, to: string, lastBeat: number): Promise<number> => {
    if ((await domstate(to, domain)) !== "running") throw new Error(`${domain} is not running on ${to} after its move: ${await domstate(to, domain)}`);
    if ((await domstate(from, domain)) !== undefined) throw new Error(`${domain} is still defined on ${from} after its move`);
    if (domain === opDomain) await vmOn(to);
    // the guest goes on counting (not rebooted): a heartbeat on the target after the last one seen on the source
    return aliveOn(to, domain, lastBeat);
  };

  const oneRound = async (r: number, first: "operator" | "virsh"): Promise<Round> => {
    const from = at;
    const to = other(at);
    const load1 = round2(loadavg()[0] ?? 0);
    let op: OperatorMove | undefined;
    let vs: VirshMove | undefined;
    for (const side of first === "operator" ? (["operator", "virsh"] as const) : (["virsh", "operator"] as const)) {
      if (side === "operator") {
        op = await operatorMove(from, to);
        beatOp = await settled(opDomain, from, to, beatOp);
        step(`round ${r}: operator ${from} → ${to} in ${op.wallMs} ms (downtime ${op.downtimeMs ?? "?"} ms; hypervisor elapsed ${op.hypervisorElapsedMs ?? "?"} ms; seen ${JSON.stringify(op.seenMs)})`);
      } else {
        vs = await virshMove(from, to);
        beatBase = await settled(baseDomain, from, to, beatBase);
        step(`round ${r}: virsh ${from} → ${to} in ${vs.wallMs} ms (downtime ${vs.hypervisorDowntimeMs ?? "?"} ms; hypervisor elapsed ${vs.hypervisorElapsedMs ?? "?"} ms)`);
      }
      await sleep(settleMs);
    }
    at = to;
    return { round: r, from, to, first, operator: op!, virsh: vs!, ratio: round2(op!.wallMs / vs!.wallMs), load1 };
  };

  step("warm-up round (not counted)");
  warmUp.push(await oneRound(0, "operator"));
  for (let r = 1; r <= rounds; r++) results.push(await oneRound(r, r % 4 === 1 || r % 4 === 0 ? "virsh" : "operator"));

  // Without the control plane: the driver's migrateVm of the baseline guest, on sessions opened
  // beforehand (the operator keeps its sessions open too), paired with virsh moves of the same guest.
  // A pair goes there and back, the driver first in every other pair: each way gets each direction
  // equally. Where the operator's wall time goes: control plane, or driver.
  if (driverRounds > 0) {
    const sessions = new Map<string, LibvirtSession>();
    try {
      for (const h of [hostA, hostB]) sessions.set(h, (await new LibvirtDriver().connect(hostConnection(hostObjs.get(h)!), undefined, AbortSignal.timeout(15_000))) as LibvirtSession);
      const driverMove = async (from: string, to: string): Promise<DriverMove> => {
        const t = performance.now();
        const result = await sessions.get(from)!.migrateVm(baseIdentity, target(to));
        const wallMs = Math.round(performance.now() - t);
        const job = await completedJob(to, baseDomain);
        return { wallMs, downtimeMs: result.downtimeMs, hypervisorDowntimeMs: msOf(job["Total downtime"]), hypervisorElapsedMs: msOf(job["Time elapsed"]) };
      };
      const pairMove = async (pair: Partial<DriverPair>, m: { way: "driver" | "virsh"; from: string; to: string }): Promise<void> => {
        if (m.way === "driver") {
          pair.driver = { ...(await driverMove(m.from, m.to)), from: m.from, to: m.to };
          step(`pair ${pair.pair ?? "?"}: driver migrateVm ${m.from} → ${m.to} in ${pair.driver.wallMs} ms (downtime ${pair.driver.downtimeMs ?? "?"} ms; hypervisor elapsed ${pair.driver.hypervisorElapsedMs ?? "?"} ms)`);
        } else {
          pair.virsh = { ...(await virshMove(m.from, m.to)), from: m.from, to: m.to };
          step(`pair ${pair.pair ?? "?"}: virsh ${m.from} → ${m.to} in ${pair.virsh.wallMs} ms (downtime ${pair.virsh.hypervisorDowntimeMs ?? "?"} ms; hypervisor elapsed ${pair.virsh.hypervisorElapsedMs ?? "?"} ms)`);
        }
        beatBase = await settled(baseDomain, m.from, m.to, beatBase);
        await sleep(settleMs);
      };
      for (let k = 0; k < driverRounds; k++) {
        const [x, y] = [at, other(at)];
        const moves: { way: "driver" | "virsh"; from: string; to: string }[] = k % 2 === 0
          ? [{ way: "driver", from: x, to: y }, { way: "virsh", from: y, to: x }]
          : [{ way: "virsh", from: x, to: y }, { way: "driver", from: y, to: x }];
        const pair: Partial<DriverPair> = { pair: k + 1 };
        await pairMove(pair, moves[0]!);
        await pairMove(pair, moves[1]!);
        driverPairs.push(pair as DriverPair);
      }
    } finally {
      await Promise.all([...sessions.values()].map((x) => x.close().catch(() => undefined)));
    }
  }
} finally {
  await migrations?.shutdown().catch(() => undefined);
  await baselineSession?.close().catch(() => undefined);
  operator?.kill("SIGTERM");
  if (operator && operator.exitCode === null) await new Promise((r) => operator!.once("exit", r));
  await cp?.stop();
  await Promise.all([...daemons.values()].map((d) => d.stop().catch(() => undefined)));
  await rm(sharedDir, { recursive: true, force: true });
}

// ---- the report ---------------------------------------------------------------------------------
const ratios = results.map((r) => r.ratio);
const span = (seen: Record<string, number>, from: string, to: string): number | undefined => (seen[from] !== undefined && seen[to] !== undefined ? seen[to] - seen[from] : undefined);
const minus = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined ? a - b : undefined);
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
const med = (xs: (number | undefined)[]): number | null => (defined(xs).length > 0 ? Math.round(median(defined(xs))) : null);
const ratio = round2(median(ratios));
const downtimeMs = med(results.map((r) => r.operator.downtimeMs));
const summary = {
  ratio,
  ratioMin: round2(Math.min(...ratios)),
  ratioMax: round2(Math.max(...ratios)),
  downtimeMs,
  virshDowntimeMs: med(results.map((r) => r.virsh.hypervisorDowntimeMs)),
  operatorMs: med(results.map((r) => r.operator.wallMs)),
  virshMs: med(results.map((r) => r.virsh.wallMs)),
  operatorElapsedMs: med(results.map((r) => r.operator.hypervisorElapsedMs)),
  virshElapsedMs: med(results.map((r) => r.virsh.hypervisorElapsedMs)),
  /** Wall time minus the hypervisor's Time elapsed: what each side adds around libvirt's job. */
  operatorOverheadMs: med(results.map((r) => (r.operator.hypervisorElapsedMs === undefined ? undefined : r.operator.wallMs - r.operator.hypervisorElapsedMs))),
  virshOverheadMs: med(results.map((r) => (r.virsh.hypervisorElapsedMs === undefined ? undefined : r.virsh.wallMs - r.virsh.hypervisorElapsedMs))),
  /** Operator: create request → status.startedAt (admission, scheduling, the status writes before the job). */
  createToStartedMs: med(results.map((r) => r.operator.startedAtMs)),
  /** Operator: create request → Running/Migrating seen (the job started and said so). */
  beforeJobMs: med(results.map((r) => r.operator.seenMs["Running/Migrating"])),
  /** Operator: Running/Migrating seen → Running/HandingOver seen (the driver's migrateVm, then a pass seeing the VM on the target). */
  jobMs: med(results.map((r) => span(r.operator.seenMs, "Running/Migrating", "Running/HandingOver"))),
  /** Operator: that minus libvirt's Time elapsed — to set against virsh's wall − elapsed (the connect, begin and confirm steps outside libvirt's job timer). */
  jobOutsideLibvirtMs: med(results.map((r) => minus(span(r.operator.seenMs, "Running/Migrating", "Running/HandingOver"), r.operator.hypervisorElapsedMs))),
  /** Operator: Running/HandingOver seen → Succeeded seen (the VirtualMachine recorded on the target). */
  handOverMs: med(results.map((r) => span(r.operator.seenMs, "Running/HandingOver", "Succeeded/Succeeded"))),
};
const driverDirect =
  driverPairs.length === 0
    ? null
    : {
        pairs: driverPairs.length,
        driverMs: med(driverPairs.map((p) => p.driver.wallMs)),
        virshMs: med(driverPairs.map((p) => p.virsh.wallMs)),
        ratio: round2(median(driverPairs.map((p) => p.driver.wallMs / p.virsh.wallMs))),
        ratioMin: round2(Math.min(...driverPairs.map((p) => p.driver.wallMs / p.virsh.wallMs))),
        ratioMax: round2(Math.max(...driverPairs.map((p) => p.driver.wallMs / p.virsh.wallMs))),
        driverDowntimeMs: med(driverPairs.map((p) => p.driver.downtimeMs)),
        virshDowntimeMs: med(driverPairs.map((p) => p.virsh.hypervisorDowntimeMs)),
        driverElapsedMs: med(driverPairs.map((p) => p.driver.hypervisorElapsedMs)),
        virshElapsedMs: med(driverPairs.map((p) => p.virsh.hypervisorElapsedMs)),
      };
const targets = { ratio: 1.1, downtimeMs: 100 };
const dirs = [...new Set(results.map((r) => `${r.from} → ${r.to}`))];
const byDirection = dirs.map((d) => {
  const of = results.filter((r) => `${r.from} → ${r.to}` === d);
  return { direction: d, rounds: of.length, ratio: round2(median(of.map((r) => r.ratio))) };
});
/** Each side's median wall time when it moved first and when it moved second in its round. */
const byOrder = (["operator", "virsh"] as const).map((side) => {
  const wall = (first: boolean): number | null => med(results.filter((r) => (r.first === side) === first).map((r) => r[side].wallMs));
  return { side, firstMs: wall(true), secondMs: wall(false) };
});
const orNa = (x: number | null | undefined): string => (x === null || x === undefined ? "n/a" : `${x} ms`);

const markdown = [
  "## Live migration: VMMigration vs virsh migrate --live --p2p, same hosts, same run",
  "",
  factsMarkdown(facts),
  "",
  `Two private libvirtds on loopback TCP sharing one storage pool directory (shared storage: memory moves, disks stay), virt type ${virtType}. Manager: one replica, status watcher ${values["no-status-watcher"] ? "off (--no-status-watcher)" : "on (its default)"}. Guest: the tiny VM, 1 CPU, 256 MiB, no networks, rewriting 20 MiB/s of ballast memory throughout. Operator: a VMMigration (targetHost the other host, no bandwidth limit) from its create request to status.phase Succeeded seen by a watch — which includes the VirtualMachine being recorded on the target. Baseline: \`virsh migrate ${virshArgs.join(" ")} <domain> <destination>\` (the flags the driver sends for this move) of a second guest made through the same driver with the same spec, from spawn to exit; both guests run all the time. ${warmUp.length} warm-up round, then ${rounds} rounds: both guests move the same way in a round (the side that goes first in the order virsh, operator, operator, virsh, so each direction gets each order equally), back the next round. ratio = median over rounds of operator ÷ virsh wall time, spread min–max. Downtime: the VMMigration's status.downtimeMs; virsh's from \`virsh domjobinfo --completed\` on the destination ("Total downtime"). "Elapsed" is that command's "Time elapsed" (the hypervisor's time for the move). Targets: ratio ≤ ${targets.ratio}, downtime < ${targets.downtimeMs} ms.`,
  "",
  `**ratio ${ratio}** (rounds ${summary.ratioMin}–${summary.ratioMax}; ${byDirection.map((d) => `${d.direction}: ${d.ratio} over ${d.rounds}`).join(", ")}; wall when first / second: ${byOrder.map((o) => `${o.side} ${orNa(o.firstMs)} / ${orNa(o.secondMs)}`).join(", ")}) — ${ratio <= targets.ratio ? "met" : "missed"}. **Downtime ${orNa(downtimeMs)}** (operator, status.downtimeMs; virsh ${orNa(summary.virshDowntimeMs)}) — ${downtimeMs !== null && downtimeMs < targets.downtimeMs ? "met" : "missed"}.`,
  "",
  `Medians: operator ${orNa(summary.operatorMs)} wall, ${orNa(summary.operatorElapsedMs)} of it libvirt's Time elapsed; virsh ${orNa(summary.virshMs)} wall, ${orNa(summary.virshElapsedMs)} elapsed. Wall − elapsed: operator ${orNa(summary.operatorOverheadMs)}, virsh ${orNa(summary.virshOverheadMs)}. The operator's wall time in steps (as its watch saw them): create → job started (Running/Migrating) ${orNa(summary.beforeJobMs)} (status.startedAt at ${orNa(summary.createToStartedMs)}); job → Running/HandingOver ${orNa(summary.jobMs)}, of which ${orNa(summary.jobOutsideLibvirtMs)} outside libvirt's elapsed (virsh: ${orNa(summary.virshOverheadMs)}); HandingOver → Succeeded ${orNa(summary.handOverMs)}.`,
  "",
  "| round | direction | first | load (1 min) | operator wall | virsh wall | operator ÷ virsh | operator downtime (status / domjobinfo) | virsh downtime | operator / virsh elapsed | operator: job started, Succeeded seen (since create) |",
  "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ...[...warmUp.map((r) => ({ ...r, label: "warm-up" })), ...results.map((r) => ({ ...r, label: String(r.round) }))].map(
    (r) =>
      `| ${r.label} | ${r.from} → ${r.to} | ${r.first} | ${r.load1} | ${r.operator.wallMs} ms | ${r.virsh.wallMs} ms | ${r.ratio} | ${orNa(r.operator.downtimeMs)} / ${orNa(r.operator.hypervisorDowntimeMs)} | ${orNa(r.virsh.hypervisorDowntimeMs)} | ${orNa(r.operator.hypervisorElapsedMs)} / ${orNa(r.virsh.hypervisorElapsedMs)} | ${orNa(r.operator.startedAtMs)}, ${r.operator.wallMs} ms |`,
  ),
  "",
  `Operator phases as the watch saw them, ms since the create request (round: phase/reason → ms): ${results.map((r) => `${r.round}: ${Object.entries(r.operator.seenMs).map(([k, v]) => `${k} ${v}`).join(", ")}`).join("; ")}.`,
  "",
  ...(driverDirect
    ? [
        `Without the control plane (${driverDirect.pairs} pairs after the rounds: the baseline guest moved there by the driver's migrateVm and back by virsh, or the other way round, alternating): driver ${orNa(driverDirect.driverMs)} vs virsh ${orNa(driverDirect.virshMs)}, ÷ ${driverDirect.ratio} (${driverDirect.ratioMin}–${driverDirect.ratioMax}); downtime ${orNa(driverDirect.driverDowntimeMs)} vs ${orNa(driverDirect.virshDowntimeMs)}; elapsed in libvirt ${orNa(driverDirect.driverElapsedMs)} vs ${orNa(driverDirect.virshElapsedMs)}.`,
        "",
        "| pair | driver migrateVm | wall | downtime (returned / domjobinfo) | elapsed | virsh | wall | downtime | elapsed |",
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        ...driverPairs.map((p) => `| ${p.pair} | ${p.driver.from} → ${p.driver.to} | ${p.driver.wallMs} ms | ${orNa(p.driver.downtimeMs)} / ${orNa(p.driver.hypervisorDowntimeMs)} | ${orNa(p.driver.hypervisorElapsedMs)} | ${p.virsh.from} → ${p.virsh.to} | ${p.virsh.wallMs} ms | ${orNa(p.virsh.hypervisorDowntimeMs)} | ${orNa(p.virsh.hypervisorElapsedMs)} |`),
        "",
      ]
    : []),
  xmlDifferences.length === 0 ? "The two guests' domain XML (dumpxml --inactive) is the same but for name, UUID and identity metadata." : `The two guests' domain XML differs beyond identity: ${xmlDifferences.map((l) => `\`${l}\``).join(", ")}.`,
  "",
].join("\n");
console.log(`\n${markdown}`);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ facts, ...summary, targets, byDirection, byOrder, virtType, statusWatcher: !values["no-status-watcher"], virshArgs, rounds: results, warmUp, driverDirect, driverPairs, xmlDifferences }, null, 2)}\n`);
}
if (values.markdown) {
  mkdirSync(dirname(values.markdown), { recursive: true });
  writeFileSync(values.markdown, markdown);
}
process.exit(0);
