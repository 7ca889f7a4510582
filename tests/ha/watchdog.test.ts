// Scenario: Watchdog fencing (issue #21) — time-based, as self-node-remediation: a partitioned
// host's status watcher, cut off from the API server, destroys the host's VMs itself once it has
// not renewed the heartbeat for selfFenceAfterSeconds; HA restarts them elsewhere only after the
// lease's duration + that + a margin, without ever reaching the host. Two private libvirtds, each
// in its own network namespace joined to the test by a veth pair (tests/harness/host-network.ts),
// their status watchers inside; shared storage; no BMC. The machine's own watchdog is never armed.
//   given  3 HA VMs on host A (fencing Watchdog, self-fence after 4 s)
//   when   A's veth is cut (the manager loses A, A's watcher loses the API server, the guests run)
//   then   A's watcher destroys the three (it logs "self-fenced"), and only after each is gone from
//          A does it run on B; a poller (every 100 ms: both daemons through their unix sockets,
//          and every QEMU of the scenario) never sees one VM twice; the failover is Completed and
//          its Fenced Event says time-based;
//   when   the veth is mended
//   then   A's heartbeat is back, the failover closes (HostReturned), A is Ready; the three run on
//          B only.
import { randomBytes } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { requireLibvirt } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, startStatusWatcher, warnings, type Operator } from "../lifecycle/fixtures.ts";
import { fencedHost } from "./fenced-host.ts";
import { runningOn, startNamespacedHosts, stopNamespacedHosts, type NamespacedHost } from "./namespaced-hosts.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `haw-${run}`;
const dc = `${ns}-dc`;
const pool = `${ns}-pool`;
const policyName = ns;
const [hostA, hostB] = [`${ns}-a`, `${ns}-b`];
const vms = ["w1", "w2", "w3"];
const diskDir = join(tmpdir(), `omni-haw-${run}`);
const selfFenceAfterSeconds = 4;

let hosts = new Map<string, NamespacedHost>();
const watchers = new Map<string, Operator>();
let operator: Operator | undefined;
const logs = (): string => warnings(operator, ...watchers.values());

const host = (name: string, virtType: string) =>
  fencedHost({ name, ns, datacenter: dc, pool, endpoint: hosts.get(name)!.endpoint, sharedStorage: ns, virtType, fencing: { method: "Watchdog", watchdog: { selfFenceAfterSeconds }, timeoutSeconds: 10 } });
const idle = (name: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "idle", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { datacenter: dc }, haRestartPriority: "High" },
});
const policy = (more: Record<string, unknown> = {}) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "HAPolicy", metadata: { name: policyName }, spec: { pools: [pool], ...more } });
const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, ns);
type Failover = { host: string; phase: string; fencedAt?: string; message?: string; vmsRestarted?: number };
const failovers = async (): Promise<Failover[]> => ((await getObject(admin, "hapolicies.omnivisor.io", policyName))?.status as { failoversInProgress?: Failover[] } | undefined)?.failoversInProgress ?? [];

const running = (name: string) => runningOn(hosts.get(name)!, ns);

/** Every QEMU of the scenario on the machine (QEMU's -name guest=<ns>.<vm>), whichever host started it. */
async function qemus(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    const m = /-name\0guest=([^,\0]+)/.exec(await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""));
    if (m?.[1]?.startsWith(`${ns}.`)) out.push(m[1].slice(ns.length + 1));
  }
  return out;
}

interface Poll {
  at: number;
  a: Set<string>;
  b: Set<string>;
  qemus: string[];
}

function poller(): { stop(): Promise<Poll[]> } {
  let on = true;
  const polls: Poll[] = [];
  const loop = (async () => {
    while (on) {
      const [a, b, q] = await Promise.all([running(hostA), running(hostB), qemus()]);
      polls.push({ at: performance.now(), a, b, qemus: q });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return polls;
    },
  };
}

async function events(reason: string): Promise<string[]> {
  const out = await kubectl(admin, ["get", "events", "-n", "default", "--field-selector", `involvedObject.name=${policyName},reason=${reason}`, "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}"]);
  return out.split("\n").filter(Boolean);
}

async function heartbeating(name: string): Promise<void> {
  const renewTime = async () => kubectl(admin, ["-n", ns, "get", "leases.coordination.k8s.io", `omnivisor-host-${name}`, "-o", "jsonpath={.spec.renewTime}", "--ignore-not-found"]);
  const seen = new Set([await renewTime()]);
  await waitFor(`host ${name}'s heartbeat renewed`, async () => (seen.add(await renewTime()).size >= 3 ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
}

beforeAll(async () => {
  const { virtType } = await requireLibvirt();
  hosts = await startNamespacedHosts([hostA, hostB], diskDir, inject("server"));
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "idle", sources: { libvirt: "idle-vm" } }] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: pool }, spec: { datacenter: dc, hostSelector: { matchLabels: scenarioLabel(ns) } } },
    host(hostA, virtType),
    ...vms.map(idle),
    policy({ reservedHostFailures: 0 }), // one host so far
  );
  for (const name of [hostA, hostB]) watchers.set(name, startStatusWatcher(operatorKubeconfig, `${name}-node`, ns, hosts.get(name)!.net.ns));
  operator = startScopedOperator(operatorKubeconfig, ns);
  await waitFor("the three VMs running on host A", async () => {
    const on = await running(hostA);
    const placed = await Promise.all(vms.map(async (v) => (await vm(v))?.status?.host === hostA));
    return vms.every((v) => on.has(v)) && placed.every(Boolean) ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 500, onTimeout: logs });
  await apply(admin, host(hostB, virtType));
  await waitFor("host B Ready", async () => (condition(await getObject(admin, "hosts.omnivisor.io", hostB), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
  await apply(admin, policy());
}, 300_000);

afterAll(async () => {
  for (const h of hosts.values()) await h.net.mend().catch(() => undefined);
  await kubectl(admin, ["delete", "hapolicies.omnivisor.io", policyName, "--ignore-not-found"]).catch(() => undefined);
  await endScenario(admin, ns, ns, operator, ...watchers.values());
  await stopNamespacedHosts(hosts, diskDir);
});

describe("HA with Watchdog fencing: a partitioned host's watcher destroys its VMs before they restart elsewhere", () => {
  it("when A's veth is cut, then A's watcher self-fences and only then do the VMs run on B, never twice", async () => {
    await Promise.all([heartbeating(hostA), heartbeating(hostB)]);
    const polls = poller();
    await hosts.get(hostA)!.net.cut();
    const cutAt = performance.now();
    await waitFor("the three VMs running on host B", async () => {
      const on = await running(hostB);
      const placed = await Promise.all(vms.map(async (v) => (await vm(v))?.status?.host === hostB));
      return vms.every((v) => on.has(v)) && placed.every(Boolean) ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 300, onTimeout: logs });
    const seen = await polls.stop();

    expect(seen.length).toBeGreaterThan(50);
    expect(seen.filter((p) => p.at < cutAt + 500).every((p) => vms.every((v) => p.a.has(v)))).toBe(true); // running on A when cut
    const twice = [...new Set(seen.flatMap((p) => [...vms.filter((v) => p.a.has(v) && p.b.has(v)), ...p.qemus.filter((q, i) => p.qemus.indexOf(q) !== i)]))];
    expect(twice).toEqual([]);
    const timing = vms.map((v) => {
      const lastOnA = Math.max(...seen.filter((p) => p.a.has(v)).map((p) => p.at));
      const firstOnB = Math.min(...seen.filter((p) => p.b.has(v)).map((p) => p.at));
      return { v, goneFromAms: Math.round(lastOnA - cutAt), onBms: Math.round(firstOnB - cutAt) };
    });
    process.stdout.write(`watchdog: cut → last seen on A / first seen on B (ms): ${timing.map((t) => `${t.v} ${t.goneFromAms} / ${t.onBms}`).join(", ")}\n`);
    for (const t of timing) expect(t.goneFromAms).toBeLessThan(t.onBms);
    // destroyed by A's own watcher (the manager could not reach A): it says so
    expect(watchers.get(hostA)!.output.join("")).toMatch(/"msg":"self-fenced"/);

    const record = await waitFor("the failover of A Completed", async () => (await failovers()).find((f) => f.host === hostA && f.phase === "Completed"), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(record).toMatchObject({ vmsRestarted: 3 });
    expect(record.fencedAt).toBeDefined();
    expect((await events("Fenced")).some((m) => m.includes(hostA) && m.includes("time-based (Watchdog)"))).toBe(true);
  }, 180_000);

  it("when the veth is mended, then A's heartbeat is back, the failover closes and A is Ready; the VMs run on B only", async () => {
    await hosts.get(hostA)!.net.mend();
    await waitFor("host A Ready with its failover closed", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", hostA);
      return condition(h, "Ready")?.status === "True" && !(await failovers()).some((f) => f.host === hostA) ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
    expect((await events("HostReturned")).some((m) => m.includes(hostA))).toBe(true);
    const [a, b] = await Promise.all([running(hostA), running(hostB)]);
    expect([...a]).toEqual([]);
    for (const v of vms) expect(b.has(v)).toBe(true);
    for (const v of vms) expect((await vm(v))?.status?.host).toBe(hostB);
  }, 120_000);
});
