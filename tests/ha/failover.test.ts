// Scenario: HA restarts a lost host's VMs elsewhere — only after its fence is confirmed, never
// twice (issue #21). Two private libvirtds (own mount namespaces, loopback TCP) share one storage
// pool directory (as NFS would be); each is a Host with its own status watcher (spec.node) and a
// TEST BMC (tests/harness/test-bmc.ts: Redfish on loopback; ForceOff kills the host namespace's
// libvirtd and QEMUs). One HAPolicy protects their pool with the default timing (heartbeat 2 s,
// 3 missed, 2 strikes). A poller lists both hosts' running domains every 100 ms throughout.
//   given  6 HA VMs in two priority groups (3 Highest, 3 Low) and one Disabled, all on host A
//   when   A's status watcher dies while A is healthy
//   then   the probe answers: Event "heartbeat lost, host answers", no fence, no VM moves;
//   when   host A crashes (every process of its namespace killed)
//   then   A is fenced (the BMC confirms Off), the Highest group runs on B before any Low VM starts,
//          all six run on B, the Disabled one stays with Ready=False RestartDisabled, Host A shows
//          Fenced=True and Ready=False HostFailed; no poll saw a VM on two hosts;
//   given  A back (its VMs stay on B) and B's BMC unplugged
//   when   B crashes
//   then   nothing restarts: the failover is Blocked naming the BMC, with an Event;
//   when   the BMC is plugged in again
//   then   the failover completes: all six run on A;
//   given  B back, restarts one at a time (maxConcurrentRestarts 1)
//   when   A crashes and the manager is killed -9 mid-failover, then started again
//   then   the failover resumes from its record: all six run on B, none twice, none lost.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { startTestBmc, type TestBmc } from "../harness/test-bmc.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, startStatusWatcher, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";
import { fencedHost } from "./fenced-host.ts";
import { seedSharedIdleImage } from "./shared-image.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `ha-${run}`;
const dc = `ha-${run}-dc`;
const pool = `ha-${run}-pool`;
const policyName = `ha-${run}`;
const diskDir = join(tmpdir(), `omni-ha-${run}`);
const hostA = `ha-${run}-a`;
const hostB = `ha-${run}-b`;
const highest = ["h1", "h2", "h3"];
const low = ["l1", "l2", "l3"];
const ha = [...highest, ...low];
const bmcLogin = { username: "fence", password: `pw-${randomBytes(6).toString("hex")}` };

const daemons = new Map<string, PrivateLibvirtd>();
const bmcs = new Map<string, TestBmc>();
const endpoints = new Map<string, string>();
const watchers = new Map<string, Operator>();
let operator: Operator | undefined;
const outputs: string[][] = [];
let virtType = "qemu";

const logs = (): string => warnings(operator, ...watchers.values());

const host = (name: string) =>
  fencedHost({ name, ns, datacenter: dc, pool, endpoint: endpoints.get(name)!, bmcAddress: bmcs.get(name)!.address, sharedStorage: `ha-${run}`, virtType });
const idle = (name: string, priority?: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "idle", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { datacenter: dc }, ...(priority ? { haRestartPriority: priority } : {}) },
});
const policy = (more: Record<string, unknown> = {}) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "HAPolicy", metadata: { name: policyName }, spec: { pools: [pool], ...more } });

const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, ns);
const haPolicy = () => getObject(admin, "hapolicies.omnivisor.io", policyName);
type Failover = { host: string; phase: string; fencedAt?: string; message?: string; vmsToRestart?: number; vmsRestarted?: number };
const failovers = (p: Obj | undefined): Failover[] => ((p?.status as { failoversInProgress?: Failover[] } | undefined)?.failoversInProgress ?? []);

/** Running domains of a host (none when its daemon is down: its processes are gone). */
async function running(name: string): Promise<Set<string>> {
  try {
    const { stdout } = await execute("virsh", ["-q", "-c", endpoints.get(name)!, "list", "--name", "--state-running"], { timeout: 3_000 });
    return new Set(stdout.split("\n").map((s) => s.trim()).filter(Boolean).map((d) => d.replace(`${ns}.`, "")));
  } catch {
    return new Set();
  }
}

/** The scenario's guests among these processes (QEMU's -name guest=<ns>.<vm>), by pid. */
async function guests(pids?: number[]): Promise<Map<number, string>> {
  const all = pids ?? (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const out = new Map<number, string>();
  for (const pid of all) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const m = /-name\0guest=([^,\0]+)/.exec(cmd);
    if (m?.[1]?.startsWith(`${ns}.`)) out.set(pid, m[1].slice(ns.length + 1));
  }
  return out;
}

interface Poll {
  at: number;
  a: Set<string>;
  b: Set<string>;
  /** Every QEMU of the scenario on the machine, whichever host started it: a VM with two runs twice. */
  qemus: string[];
}

/** What runs on a host: its domains as libvirt lists them, and the QEMUs below it (which outlive a dead daemon). */
async function onHost(name: string): Promise<Set<string>> {
  const [listed, mine] = await Promise.all([running(name), bmcs.get(name)!.processes().then((pids) => guests(pids))]);
  return new Set([...listed, ...mine.values()]);
}

/** Lists every host's running domains (and every QEMU of the scenario) every 100 ms until stopped. */
function poller(): { stop(): Promise<Poll[]> } {
  let on = true;
  const polls: Poll[] = [];
  const loop = (async () => {
    while (on) {
      const [a, b, qemus] = await Promise.all([onHost(hostA), onHost(hostB), guests()]);
      polls.push({ at: performance.now(), a, b, qemus: [...qemus.values()] });
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

/** VMs any poll saw running on both hosts at once. */
const twice = (polls: Poll[]): string[] => [...new Set(polls.flatMap((p) => [...[...p.a].filter((d) => p.b.has(d)), ...p.qemus.filter((d, i) => p.qemus.indexOf(d) !== i)]))];
/** When (poll time) each VM was first seen running on the host. */
function firstSeen(polls: Poll[], side: "a" | "b", after: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (const p of polls) if (p.at >= after) for (const d of p[side]) if (!seen.has(d)) seen.set(d, p.at);
  return seen;
}

async function allOn(name: string, vms: string[], what: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(what, async () => {
    const on = await Promise.all(vms.map(async (v) => (await vm(v))?.status?.host === name && (await running(name)).has(v)));
    return on.every(Boolean) ? true : undefined;
  }, { timeoutMs, intervalMs: 300, onTimeout: logs });
}

async function events(reason: string): Promise<string[]> {
  const out = await kubectl(admin, ["get", "events", "-n", "default", "--field-selector", `involvedObject.name=${policyName},reason=${reason}`, "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}"]);
  return out.split("\n").filter(Boolean);
}

/** The running operator's /metrics (its port is in its "serving /metrics" log line). */
async function metrics(): Promise<string> {
  const line = operator!.output.join("").split("\n").find((l) => l.includes("serving /metrics"));
  const port = line ? (JSON.parse(line) as { port?: number }).port : undefined;
  if (!port) throw new Error("the operator did not say where it serves /metrics");
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Until the host's heartbeat Lease has been renewed twice from now (its status watcher follows it). */
async function heartbeating(name: string): Promise<void> {
  const renewTime = async () => kubectl(admin, ["-n", ns, "get", "leases.coordination.k8s.io", `omnivisor-host-${name}`, "-o", "jsonpath={.spec.renewTime}", "--ignore-not-found"]);
  const seen = new Set([await renewTime()]);
  await waitFor(`host ${name}'s heartbeat renewed`, async () => (seen.add(await renewTime()).size >= 3 ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
}

async function hostBack(name: string): Promise<void> {
  await daemons.get(name)!.restart();
  await waitFor(`host ${name} Ready again`, async () => {
    const h = await getObject(admin, "hosts.omnivisor.io", name);
    return condition(h, "Ready")?.status === "True" && !failovers(await haPolicy()).some((f) => f.host === name) ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
}

beforeAll(async () => {
  virtType = (await requireLibvirt()).virtType;
  await mkdir(diskDir, { recursive: true });
  for (const name of [hostA, hostB]) {
    const port = await freePort();
    const daemon = await startPrivateLibvirtd(`${name}`, { tcp: { address: "127.0.0.1", port }, pools: [{ name: "shared", path: diskDir }] });
    daemons.set(name, daemon);
    endpoints.set(name, `qemu+tcp://127.0.0.1:${port}/system`);
    const bmc = await startTestBmc(bmcLogin);
    bmc.follow(() => daemon.pid());
    bmcs.set(name, bmc);
  }
  await seedSharedIdleImage(endpoints.get(hostA)!, [endpoints.get(hostB)!]);
  await kubectl(admin, ["create", "namespace", ns]);
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  await apply(
    admin,
    { apiVersion: "v1", kind: "Secret", metadata: { name: "bmc", namespace: ns }, data: { username: b64(bmcLogin.username), password: b64(bmcLogin.password) } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "idle", sources: { libvirt: "idle-vm" } }] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: pool }, spec: { datacenter: dc, hostSelector: { matchLabels: scenarioLabel(ns) } } },
    host(hostA),
    ...highest.map((n) => idle(n, "Highest")),
    ...low.map((n) => idle(n, "Low")),
    idle("pinned", "Disabled"),
    // one host so far: admission control would keep every VM Pending (a lone host cannot restart
    // its own VMs); the default (1) comes once host B is there
    policy({ reservedHostFailures: 0 }),
  );
  for (const name of [hostA, hostB]) watchers.set(name, startStatusWatcher(operatorKubeconfig, `${name}-node`, ns));
  operator = startScopedOperator(operatorKubeconfig, ns);
  outputs.push(operator.output);
  await allOn(hostA, [...ha, "pinned"], "every VM running on host A", 180_000);
  await apply(admin, host(hostB));
  await waitFor("host B Ready", async () => (condition(await getObject(admin, "hosts.omnivisor.io", hostB), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
  await apply(admin, policy());
}, 300_000);

afterAll(async () => {
  const all = await kubectl(admin, ["get", "events", "-A", "--sort-by=.lastTimestamp", "-o", "custom-columns=T:.lastTimestamp,OBJ:.involvedObject.name,REASON:.reason,MSG:.message"]).catch(() => "");
  await writeFile(join(tmpdir(), `omni-ha-${run}-events.txt`), all).catch(() => undefined);
  // a crashed host comes back so its VMs can be deleted through the operator
  await Promise.all([...daemons.values()].map(async (d) => (d.pid() ? undefined : d.restart().catch(() => undefined))));
  await kubectl(admin, ["delete", "hapolicies.omnivisor.io", policyName, "--ignore-not-found"]).catch(() => undefined);
  await endScenario(admin, ns, `ha-${run}`, operator, ...watchers.values());
  await writeFile(join(tmpdir(), `omni-ha-${run}-operator.log`), outputs.map((o) => o.join("")).join("\n----- restarted -----\n")).catch(() => undefined);
  await Promise.all([...bmcs.values()].map((b) => b.close()));
  await Promise.all([...daemons.values()].map((d) => d.stop()));
  for (const pid of (await guests()).keys()) process.kill(pid, "SIGKILL"); // nothing of the scenario outlives it
  await rm(diskDir, { recursive: true, force: true });
});

describe("HA: a lost host's VMs restart elsewhere, fenced first, never twice", () => {
  it("given a healthy host whose status watcher dies, then the probe answers: no fence, no restart", async () => {
    const watcher = watchers.get(hostA)!;
    await watcher.kill();
    const polls = poller();
    await waitFor("Event: heartbeat lost, host answers", async () => ((await events("HeartbeatLostHostAnswers")).some((m) => m.includes(hostA)) ? true : undefined), { timeoutMs: 60_000, intervalMs: 500, onTimeout: logs });
    await new Promise((r) => setTimeout(r, 8_000)); // several more missed heartbeats: still nothing
    const seen = await polls.stop();
    expect(bmcs.get(hostA)!.resets).toBe(0);
    expect(failovers(await haPolicy()).filter((f) => f.host === hostA && f.phase !== "Suspect")).toEqual([]);
    for (const v of [...ha, "pinned"]) expect((await vm(v))?.status?.host).toBe(hostA);
    expect(seen.every((p) => p.a.size === ha.length + 1 && p.b.size === 0)).toBe(true);
    expect(seen.length).toBeGreaterThan(20);
    watchers.set(hostA, startStatusWatcher(operatorKubeconfig, `${hostA}-node`, ns));
    await heartbeating(hostA);
  }, 120_000);

  it("when host A crashes, then it is fenced and the six run on B by priority; the Disabled one stays; no poll sees a VM twice", async () => {
    await heartbeating(hostA);
    const polls = poller();
    const killedAt = performance.now();
    expect(await bmcs.get(hostA)!.crash()).toBeGreaterThan(ha.length); // the daemon and its QEMUs
    expect(await bmcs.get(hostA)!.processes()).toEqual([]);
    await allOn(hostB, ha, "all six HA VMs running on host B");
    const seen = await polls.stop();
    expect(twice(seen)).toEqual([]);
    const onB = firstSeen(seen, "b", killedAt);
    const firstMs = Math.min(...ha.map((v) => onB.get(v) ?? Infinity)) - killedAt;
    const lastHighest = Math.max(...highest.map((v) => onB.get(v)!));
    const firstLow = Math.min(...low.map((v) => onB.get(v)!));
    process.stdout.write(`HA crash: first VM running on B ${Math.round(firstMs)} ms after the kill; all six ${Math.round(Math.max(...ha.map((v) => onB.get(v)!)) - killedAt)} ms\n`);
    expect(lastHighest).toBeLessThanOrEqual(firstLow);

    const p = await waitFor("the failover of A Completed", async () => {
      const got = await haPolicy();
      return failovers(got).find((f) => f.host === hostA)?.phase === "Completed" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    const record = failovers(p).find((f) => f.host === hostA);
    expect(record).toMatchObject({ phase: "Completed", vmsToRestart: 6, vmsRestarted: 6 });
    expect(record?.fencedAt).toBeDefined();
    expect((p?.status as { failoversCompleted?: number }).failoversCompleted).toBe(1);
    const a = await getObject(admin, "hosts.omnivisor.io", hostA);
    expect(condition(a, "Fenced")?.status).toBe("True");
    expect(condition(a, "Ready")).toMatchObject({ status: "False", reason: "HostFailed" });
    const pinned = await waitFor("the Disabled VM held with its reason", async () => {
      const got = await vm("pinned");
      return condition(got, "Ready")?.reason === "RestartDisabled" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, onTimeout: logs });
    expect(pinned.status?.host).toBe(hostA);
    expect((await events("Fenced")).some((m) => m.includes(hostA))).toBe(true);
    // the BMC's password is nowhere in what the operator said
    const said = [...outputs.flat(), ...(await events("Fenced")), ...(await events("HostFailed"))].join("");
    expect(said).not.toContain(bmcLogin.password);
    expect(JSON.stringify(p)).not.toContain(bmcLogin.password);
  }, 180_000);

  it("given A back and B's BMC unreachable, when B crashes, then nothing restarts (Blocked, with an Event) until the BMC answers again", async () => {
    await hostBack(hostA);
    // back: the record closed only after its stale copies were looked for (none runs: QEMU's lock
    // on the shared disk kept them from starting while the VMs run on B)
    expect((await events("HostReturned")).some((m) => m.includes(hostA) && /stale cop/.test(m))).toBe(true);
    for (const v of ha) expect((await onHost(hostA)).has(v)).toBe(false);
    await kubectl(admin, ["-n", ns, "delete", "virtualmachines.omnivisor.io", "pinned", "--wait=false"]);
    const bmc = bmcs.get(hostB)!;
    await bmc.unplug();
    await heartbeating(hostB);
    const polls = poller();
    await bmc.crash();
    const blocked = await waitFor("the failover of B Blocked", async () => failovers(await haPolicy()).find((f) => f.host === hostB && f.phase === "Blocked"), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(blocked.message).toMatch(/no confirmed fence/);
    expect(blocked.fencedAt).toBeUndefined();
    await waitFor("a FenceFailed Event", async () => ((await events("FenceFailed")).some((m) => m.includes(hostB)) ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, onTimeout: logs });
    await new Promise((r) => setTimeout(r, 8_000)); // retries go on; still nothing restarts
    for (const v of ha) {
      const got = await vm(v);
      expect(got?.status?.host).toBe(hostB);
      expect(condition(got, "Ready")?.reason).toBe("HostFailed");
    }
    expect(condition(await haPolicy(), "Ready")).toMatchObject({ status: "False", reason: "FailoverBlocked" });
    const blockedMetrics = await metrics();
    expect(blockedMetrics).toContain(`omnivisor_ha_failovers{policy="${policyName}",phase="Blocked"} 1`);
    expect(blockedMetrics).toMatch(/omnivisor_ha_fences_total\{method="OutOfBand",result="failed"\} [1-9]/);

    await bmc.plugIn();
    await allOn(hostA, ha, "all six running on host A once the BMC answers");
    const seen = await polls.stop();
    expect(twice(seen)).toEqual([]);
    await waitFor("the failover of B Completed", async () => (failovers(await haPolicy()).find((f) => f.host === hostB)?.phase === "Completed" ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
  }, 240_000);

  it("given both hosts back, reservedHostFailures keeps a create that would break the reserve Pending, saying why", async () => {
    await hostBack(hostB);
    // 12 of a host's 16 allocatable CPUs: the other host could not restart the larger one's VMs
    await apply(admin, { ...idle("big"), spec: { ...idle("big").spec, cpus: 12 } });
    const pending = await waitFor("the big VM Pending for the HA reserve", async () => {
      const got = await vm("big");
      return condition(got, "Scheduled")?.reason === "HAReserve" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(pending.status?.phase).toBe("Pending");
    expect(pending.status?.host).toBeUndefined();
    expect(condition(pending, "Scheduled")?.message).toMatch(/unable to restart the VMs of its 1 largest host.*reservedHostFailures/);
    await apply(admin, policy({ reservedHostFailures: 0 }));
    await waitFor("the big VM placed once nothing is reserved", async () => ((await vm("big"))?.status?.host ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    await kubectl(admin, ["-n", ns, "delete", "virtualmachines.omnivisor.io", "big", "--wait=true", "--timeout=60s"]);
  }, 150_000);

  it("when A crashes and the manager is killed -9 mid-failover, then a new one resumes it: none twice, none lost", async () => {
    await apply(admin, policy({ maxConcurrentRestarts: 1 }));
    await heartbeating(hostA);
    const polls = poller();
    await bmcs.get(hostA)!.crash();
    await waitFor("the failover of A restarting", async () => {
      const f = failovers(await haPolicy()).find((x) => x.host === hostA);
      return f?.phase === "Restarting" || f?.phase === "Fenced" ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, onTimeout: logs });
    await operator!.kill();
    const onBWhenKilled = (await running(hostB)).size;
    operator = startScopedOperator(operatorKubeconfig, ns);
    outputs.push(operator.output);
    await allOn(hostB, ha, "all six running on host B after the restart");
    const seen = await polls.stop();
    expect(twice(seen)).toEqual([]);
    expect(onBWhenKilled).toBeLessThan(ha.length); // it really was mid-failover
    await waitFor("the failover of A Completed", async () => (failovers(await haPolicy()).find((f) => f.host === hostA)?.phase === "Completed" ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(failovers(await haPolicy()).find((f) => f.host === hostA)).toMatchObject({ phase: "Completed", vmsRestarted: 6 });
    // none lost: every HA VM runs, on exactly one host
    const [a, b] = await Promise.all([running(hostA), running(hostB)]);
    for (const v of ha) expect([a.has(v), b.has(v)]).toEqual([false, true]);
  }, 240_000);
});
