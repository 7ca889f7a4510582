// Scenario: a partition — a host cut off from the network while its VMs keep running — N times
// (issue #21; 20 in the run, OMNIVISOR_HA_TRIALS; 5 by default to keep CI short). Each
// host is a private libvirtd in a network namespace of its own joined to the test by a veth pair
// (tests/harness/host-network.ts); its status watcher runs inside and reaches the API server
// through the pair. The partition is `ip link set <test side> down`: the manager loses the host,
// the watcher loses the API server, the guest runs on. HA must fence the host (its TEST BMC, on
// the test's loopback — the BMC network is not cut — kills the host's processes) BEFORE it starts
// the VM elsewhere, every time. The two hosts share one storage directory; the datacenter packs
// (Progressive), so the VM has one host; each trial cuts the host the VM is on, which comes back
// (restarted, its link up) before the next trial cuts the other one.
//   then, in every trial: the BMC's ForceOff comes before the VM is seen running on the other
//   host, and a poller of every QEMU process of the scenario (every 100 ms) never sees two.
// (Replaces the earlier stand-in that froze the host's libvirtd with SIGSTOP.)
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { startHostNetwork, type HostNetwork } from "../harness/host-network.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { startTestBmc, type TestBmc } from "../harness/test-bmc.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, startStatusWatcher, warnings, type Operator } from "../lifecycle/fixtures.ts";
import { fencedHost } from "./fenced-host.ts";
import { seedSharedIdleImage } from "./shared-image.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const server = inject("server");
const run = randomBytes(3).toString("hex");
const ns = `hap-${run}`;
const dc = `${ns}-dc`;
const pool = `${ns}-pool`;
const hosts = [`${ns}-a`, `${ns}-b`];
const diskDir = join(tmpdir(), `omni-hap-${run}`);
const bmcLogin = { username: "fence", password: randomBytes(9).toString("base64url") };
/** 5 by default (CI time); OMNIVISOR_HA_TRIALS=20 is the run. */
const trials = Number(process.env["OMNIVISOR_HA_TRIALS"] ?? 5);

const daemons = new Map<string, PrivateLibvirtd>();
const networks = new Map<string, HostNetwork>();
const bmcs = new Map<string, TestBmc>();
const endpoints = new Map<string, string>();
const watchers: Operator[] = [];
let operator: Operator | undefined;
const logs = (): string => warnings(operator, ...watchers);

const host = (name: string) =>
  fencedHost({ name, ns, datacenter: dc, pool, endpoint: endpoints.get(name)!, bmcAddress: bmcs.get(name)!.address, sharedStorage: ns });

/** Whether the VM runs on the host, asked through the daemon's unix socket: the test's view, not cut by a partition. */
async function running(name: string): Promise<boolean> {
  try {
    const { stdout } = await execute("virsh", ["-q", "-c", daemons.get(name)!.uri, "list", "--name", "--state-running"], { timeout: 2_000 });
    return stdout.split("\n").some((d) => d.trim() === `${ns}.web`);
  } catch {
    return false;
  }
}

/** QEMU processes of the scenario's VM on the machine, whoever started them. */
async function qemus(): Promise<number> {
  let n = 0;
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(`guest=${ns}.web`)) n++;
  }
  return n;
}

async function failovers(): Promise<{ host: string }[]> {
  const p = await getObject(admin, "hapolicies.omnivisor.io", ns);
  return (p?.status as { failoversInProgress?: { host: string }[] } | undefined)?.failoversInProgress ?? [];
}

async function ready(name: string): Promise<void> {
  await waitFor(`host ${name} Ready with no failover`, async () => {
    const h = await getObject(admin, "hosts.omnivisor.io", name);
    return condition(h, "Ready")?.status === "True" && !(await failovers()).some((f) => f.host === name) ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
}

async function heartbeating(name: string): Promise<void> {
  const renewTime = async () => kubectl(admin, ["-n", ns, "get", "leases.coordination.k8s.io", `omnivisor-host-${name}`, "-o", "jsonpath={.spec.renewTime}", "--ignore-not-found"]);
  const seen = new Set([await renewTime()]);
  await waitFor(`host ${name}'s heartbeat renewed`, async () => (seen.add(await renewTime()).size >= 3 ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
}

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(diskDir, { recursive: true });
  for (const name of hosts) {
    const net = await startHostNetwork();
    networks.set(name, net);
    await net.forwardApiServer(server);
    const port = await freePort();
    const daemon = await startPrivateLibvirtd(name, { tcp: { address: net.hostAddress, port }, pools: [{ name: "shared", path: diskDir }], netns: net.ns });
    daemons.set(name, daemon);
    endpoints.set(name, `qemu+tcp://${net.hostAddress}:${port}/system`);
    const bmc = await startTestBmc(bmcLogin);
    bmc.follow(() => daemon.pid());
    bmcs.set(name, bmc);
  }
  await seedSharedIdleImage(endpoints.get(hosts[0]!)!, [endpoints.get(hosts[1]!)!]);
  await kubectl(admin, ["create", "namespace", ns]);
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  await apply(
    admin,
    { apiVersion: "v1", kind: "Secret", metadata: { name: "bmc", namespace: ns }, data: { username: b64(bmcLogin.username), password: b64(bmcLogin.password) } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "idle", sources: { libvirt: "idle-vm" } }], placement: { policy: "Progressive" } } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: pool }, spec: { datacenter: dc, hostSelector: { matchLabels: scenarioLabel(ns) } } },
    ...hosts.map(host),
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HAPolicy", metadata: { name: ns }, spec: { pools: [pool] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "VirtualMachine", metadata: { name: "web", namespace: ns }, spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "idle", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { datacenter: dc }, haRestartPriority: "High" } },
  );
  for (const name of hosts) watchers.push(startStatusWatcher(operatorKubeconfig, `${name}-node`, ns, networks.get(name)!.ns));
  operator = startScopedOperator(operatorKubeconfig, ns);
  await waitFor("web running on a host", async () => ((await Promise.all(hosts.map(running))).some(Boolean) ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
}, 240_000);

afterAll(async () => {
  for (const net of networks.values()) await net.mend().catch(() => undefined);
  for (const d of daemons.values()) if (!d.pid()) await d.restart().catch(() => undefined);
  await kubectl(admin, ["delete", "hapolicies.omnivisor.io", ns, "--ignore-not-found"]).catch(() => undefined);
  await endScenario(admin, ns, ns, operator, ...watchers);
  await Promise.all([...bmcs.values()].map((b) => b.close()));
  await Promise.all([...daemons.values()].map((d) => d.stop()));
  await Promise.all([...networks.values()].map((n) => n.close()));
  await rm(diskDir, { recursive: true, force: true });
});

describe("HA: a partitioned host (its veth cut) whose VMs run on", () => {
  it(`is fenced before its VM starts elsewhere, ${trials} times out of ${trials}; the VM never runs twice`, async () => {
    const results: { from: string; fencedBeforeRestart: boolean; maxQemus: number; ms: number }[] = [];
    for (let t = 0; t < trials; t++) {
      const [from, to] = (await running(hosts[0]!)) ? [hosts[0]!, hosts[1]!] : [hosts[1]!, hosts[0]!];
      await Promise.all([heartbeating(from), heartbeating(to)]);
      const bmc = bmcs.get(from)!;
      const resetsBefore = bmc.resetTimes.length;
      await networks.get(from)!.cut(); // the partition: the guest runs on
      const cutAt = performance.now();
      let maxQemus = 0;
      let seenAt: number | undefined;
      while (seenAt === undefined && performance.now() - cutAt < 120_000) {
        const [n, there] = await Promise.all([qemus(), running(to)]);
        maxQemus = Math.max(maxQemus, n);
        if (there) seenAt = performance.now();
        else await new Promise((r) => setTimeout(r, 100));
      }
      if (seenAt === undefined) throw new Error(`trial ${t + 1}: the VM never ran on ${to}\n${logs()}`);
      const fencedAt = bmc.resetTimes[resetsBefore];
      results.push({ from, fencedBeforeRestart: fencedAt !== undefined && fencedAt < seenAt, maxQemus, ms: Math.round(seenAt - cutAt) });
      await daemons.get(from)!.restart(); // fenced: its processes are gone; it boots again
      await networks.get(from)!.mend();
      await ready(from);
    }
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    process.stdout.write(`partition, ${trials} trials: cut → running elsewhere ${results.map((r) => r.ms).join(", ")} ms (p50 ${ms[Math.floor(ms.length / 2)]}, max ${ms.at(-1)}); double-runs ${results.filter((r) => r.maxQemus > 1).length}\n`);
    expect(results.filter((r) => !r.fencedBeforeRestart)).toEqual([]);
    expect(results.filter((r) => r.maxQemus > 1)).toEqual([]);
    expect(results).toHaveLength(trials);
  }, 1_200_000);
});
