// Scenario: what deployment tools read from every kind, in every state this machine can produce
// with real hosts (the shared dockerd, a private dockerd, a daemon that does not answer).
//   given  VMs running, stopped, fitting on no host, being deleted; Hosts ready, unreachable, in
//          maintenance; pools and datacenters with and without hosts; vApps running, stopped,
//          failed; moves done, failed, waiting; quotas within and over their limits; HA policies
//          protecting and blocked; DRS policies Manual, Automatic, naming a missing pool
//   then   sigs.k8s.io/cli-utils' kstatus (what Flux and kpt use) says Current only for what is
//          done: a VM that fits nowhere is Failed, not Current; every kind carries Ready, so
//          `kubectl wait --for=condition=Ready` (and Ready=false) answers for each.
// With OMNIVISOR_CAPTURE_HEALTH=1 it also records each object as Argo CD would see it into
// tests/argocd/fixtures/<Kind>.<Argo CD health>.<case>.json: the fixtures the Lua health check
// is tested against (tests/argocd/health-lua.test.ts).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { repoRoot, requireTools, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `hs-${run}`;
const name = (what: string): string => `hs-${run}-${what}`;
const dc = name("dc");
const [hostA, hostB] = [name("a"), name("b")];
const hold = "health-states.omnivisor.io/hold";
const api = "omnivisor.io/v1alpha1";
let dockerd: PrivateDockerd | undefined;
let operator: Operator | undefined;
const logs = (): string => warnings(operator);

const off = { mode: "Hard", timeoutSeconds: 5 };
const vmSpec = (more: Record<string, unknown> = {}) => ({ cpus: 1, memory: "32Mi", powerOff: off, disks: [{ name: "root", image: "busybox:local" }], placement: { hosts: [hostA] }, ...more });
const host = (n: string, endpoint: string, more: Record<string, unknown> = {}, finalizers?: string[]) => ({
  apiVersion: api,
  kind: "Host",
  metadata: { name: n, labels: scenarioLabel(ns), ...(finalizers ? { finalizers } : {}) },
  spec: { datacenter: dc, driver: "docker", endpoint, cpuOvercommit: 8, ...more },
});
const namespaced = (kind: string, n: string, spec: Record<string, unknown>, finalizers?: string[]) => ({ apiVersion: api, kind, metadata: { name: n, namespace: ns, ...(finalizers ? { finalizers } : {}) }, spec });
const clusterWide = (kind: string, n: string, spec: Record<string, unknown>, finalizers?: string[]) => ({ apiVersion: api, kind, metadata: { name: n, ...(finalizers ? { finalizers } : {}) }, spec });

/** One object in one state: what kstatus and Argo CD must say of it. */
interface Case {
  kind: string;
  resource: string;
  name: string;
  namespaced: boolean;
  kstatus: "Current" | "InProgress" | "Failed" | "Terminating";
  argo: "Healthy" | "Progressing" | "Degraded" | "Suspended";
  /** Ready's status, for `kubectl wait` (a deleting object is not waited on). */
  ready?: "True" | "False";
}

const kinds = {
  VirtualMachine: ["virtualmachines", true],
  Host: ["hosts", false],
  HostPool: ["hostpools", false],
  Datacenter: ["datacenters", false],
  VApp: ["vapps", true],
  VMMigration: ["vmmigrations", true],
  VDCQuota: ["vdcquotas", true],
  HAPolicy: ["hapolicies", false],
  DRSPolicy: ["drspolicies", false],
} as const;
const c = (kind: keyof typeof kinds, n: string, kstatus: Case["kstatus"], argo: Case["argo"], ready?: Case["ready"]): Case => ({ kind, resource: kinds[kind][0], name: n, namespaced: kinds[kind][1], kstatus, argo, ready });
const cases: Record<string, Case> = {
  "vm-running": c("VirtualMachine", "running", "Current", "Healthy", "True"),
  "vm-stopped": c("VirtualMachine", "stopped", "Current", "Suspended", "True"),
  "vm-fits-no-host": c("VirtualMachine", "nofit", "Failed", "Degraded", "False"),
  // its back-off ends (10 s, then longer) and it runs again: judged as it was while backing off
  "vm-crash-looping": c("VirtualMachine", "crashy", "Failed", "Degraded"),
  "vm-deleting": c("VirtualMachine", "deleting", "Terminating", "Progressing"),
  "host-ready": c("Host", hostA, "Current", "Healthy", "True"),
  "host-unreachable": c("Host", name("unreachable"), "Failed", "Degraded", "False"),
  "host-in-maintenance": c("Host", name("maintenance"), "Current", "Suspended", "True"),
  "host-deleting": c("Host", name("deleting"), "Terminating", "Progressing"),
  "hostpool-ready": c("HostPool", name("pool"), "Current", "Healthy", "True"),
  "hostpool-no-hosts": c("HostPool", name("empty"), "Failed", "Degraded", "False"),
  "hostpool-deleting": c("HostPool", name("pool-deleting"), "Terminating", "Progressing"),
  "datacenter-ready": c("Datacenter", dc, "Current", "Healthy", "True"),
  "datacenter-no-hosts": c("Datacenter", name("dc-empty"), "Failed", "Degraded", "False"),
  "datacenter-deleting": c("Datacenter", name("dc-deleting"), "Terminating", "Progressing"),
  "vapp-running": c("VApp", "app", "Current", "Healthy", "True"),
  "vapp-stopped": c("VApp", "app-stopped", "Current", "Suspended", "True"),
  "vapp-member-fits-no-host": c("VApp", "app-nofit", "Failed", "Degraded", "False"),
  "vapp-deleting": c("VApp", "app-deleting", "Terminating", "Progressing"),
  "vmmigration-succeeded": c("VMMigration", "moved", "Current", "Healthy", "True"),
  "vmmigration-vm-not-found": c("VMMigration", "lost", "Failed", "Degraded", "False"),
  "vmmigration-vm-not-placed": c("VMMigration", "waiting", "InProgress", "Progressing", "False"),
  "vmmigration-deleting": c("VMMigration", "move-deleting", "Terminating", "Progressing"),
  "vdcquota-within-limits": c("VDCQuota", "roomy", "Current", "Healthy", "True"),
  "vdcquota-over-limit": c("VDCQuota", "tight", "Failed", "Degraded", "False"),
  "vdcquota-deleting": c("VDCQuota", "quota-deleting", "Terminating", "Progressing"),
  "hapolicy-protecting": c("HAPolicy", name("ha"), "Current", "Healthy", "True"),
  "hapolicy-failover-blocked": c("HAPolicy", name("ha-blocked"), "Failed", "Degraded", "False"),
  "hapolicy-deleting": c("HAPolicy", name("ha-deleting"), "Terminating", "Progressing"),
  // Manual recommends and moves nothing: Argo CD calls that Suspended
  "drspolicy-manual": c("DRSPolicy", name("drs"), "Current", "Suspended", "True"),
  "drspolicy-automatic": c("DRSPolicy", name("drs-auto"), "Current", "Healthy", "True"),
  "drspolicy-pool-not-found": c("DRSPolicy", name("drs-lost"), "Failed", "Degraded", "False"),
  "drspolicy-deleting": c("DRSPolicy", name("drs-deleting"), "Terminating", "Progressing"),
};

const get = (k: Case): Promise<Obj | undefined> => getObject(admin, `${k.resource}.omnivisor.io`, k.name, k.namespaced ? ns : undefined);

async function kstatusOf(objects: Obj[]): Promise<{ kind: string; name: string; status: string; message: string }[]> {
  const child = execute(toolchain().kstatus, []);
  child.child.stdin!.end(JSON.stringify(objects));
  const { stdout } = await child;
  return stdout.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; name: string; status: string; message: string });
}

beforeAll(async () => {
  requireTools(toolchain(), ["kstatus"]);
  await requireDocker();
  dockerd = await PrivateDockerd.start();
  await kubectl(admin, ["create", "namespace", ns]);
  const held = [hold];
  await apply(
    admin,
    clusterWide("Datacenter", dc, { imageStore: { location: "docker images" } }),
    clusterWide("Datacenter", name("dc-empty"), { imageStore: { location: "docker images" } }),
    clusterWide("Datacenter", name("dc-deleting"), { imageStore: { location: "docker images" } }, held),
    clusterWide("HostPool", name("pool"), { datacenter: dc, hosts: [hostA, hostB] }),
    clusterWide("HostPool", name("empty"), { datacenter: dc, hosts: ["nobody"] }),
    clusterWide("HostPool", name("pool-deleting"), { datacenter: dc, hosts: [hostA] }, held),
    clusterWide("HAPolicy", name("ha"), { pools: [name("pool")] }),
    // a pool whose one host is lost and cannot be fenced (no fencing configured)
    clusterWide("HostPool", name("pool-lost"), { datacenter: dc, hosts: [name("lost")] }),
    clusterWide("HAPolicy", name("ha-blocked"), { pools: [name("pool-lost")] }),
    clusterWide("DRSPolicy", name("drs"), { pools: [name("pool")] }),
    clusterWide("DRSPolicy", name("drs-auto"), { pools: [name("pool")], mode: "Automatic" }),
    clusterWide("DRSPolicy", name("drs-lost"), { pools: [name("pool-gone")] }),
    clusterWide("DRSPolicy", name("drs-deleting"), { pools: [name("pool")] }, held),
    clusterWide("HAPolicy", name("ha-deleting"), { pools: [name("pool")] }, held),
    host(hostA, `unix://${dockerSocket}`),
    host(hostB, dockerd.endpoint),
    host(name("maintenance"), dockerd.endpoint, { maintenance: true }),
    host(name("unreachable"), "tcp://127.0.0.1:1"),
    host(name("lost"), "tcp://127.0.0.1:1"),
    host(name("deleting"), dockerd.endpoint, {}, held),
    namespaced("VirtualMachine", "running", vmSpec()),
    namespaced("VirtualMachine", "stopped", vmSpec({ powerState: "Stopped" })),
    namespaced("VirtualMachine", "nofit", vmSpec({ cpus: 128 })),
    namespaced("VirtualMachine", "crashy", vmSpec()),
    namespaced("VirtualMachine", "deleting", vmSpec({ powerState: "Stopped" }), held),
    namespaced("VirtualMachine", "mover", vmSpec({ placement: { hosts: [hostA, hostB] } })),
    namespaced("VApp", "app", { members: [{ name: "web", spec: vmSpec() }] }),
    namespaced("VApp", "app-stopped", { powerState: "Stopped", members: [{ name: "web", spec: vmSpec() }] }),
    namespaced("VApp", "app-nofit", { failurePolicy: "Keep", members: [{ name: "big", spec: vmSpec({ cpus: 128 }) }] }),
    namespaced("VApp", "app-deleting", { powerState: "Stopped", members: [{ name: "web", spec: vmSpec() }] }, held),
    namespaced("VMMigration", "lost", { virtualMachine: "nobody" }),
    namespaced("VMMigration", "waiting", { virtualMachine: "nofit" }),
    namespaced("VMMigration", "move-deleting", { virtualMachine: "nobody" }, held),
    namespaced("VDCQuota", "roomy", { hard: { cpus: 1000 } }),
    namespaced("VDCQuota", "quota-deleting", { hard: { cpus: 1000 } }, held),
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 180_000);

afterAll(async () => {
  // our hold released (the operator's own finalizers stay: it cleans up behind them)
  for (const k of Object.values(cases).filter((x) => x.kstatus === "Terminating")) {
    const o = await get(k).catch(() => undefined);
    const finalizers = (o?.metadata.finalizers ?? []).filter((f) => f !== hold);
    await kubectl(admin, ["patch", `${k.resource}.omnivisor.io`, k.name, ...(k.namespaced ? ["-n", ns] : []), "--type=merge", "-p", JSON.stringify({ metadata: { finalizers } })]).catch(() => undefined);
  }
  const clusterObjects = [...Object.values(cases).filter((x) => !x.namespaced).map((x) => `${x.resource}.omnivisor.io/${x.name}`), `hostpools.omnivisor.io/${name("pool-lost")}`];
  // vApps first: they would make their members' VMs again
  await kubectl(admin, ["delete", "vapps.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await endScenario(admin, ns, `hs-${run}`, operator);
  for (const o of clusterObjects) await kubectl(admin, ["delete", o, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
  await dockerd?.stop();
}, 180_000);

async function until(k: Case, what: string, ok: (o: Obj) => boolean, timeoutMs = 90_000): Promise<Obj> {
  return waitFor(`${k.kind} ${k.name} ${what}`, async () => {
    const got = await get(k);
    return got && ok(got) ? got : undefined;
  }, { timeoutMs, intervalMs: 500, onTimeout: logs });
}

const readyIs = (status: string, reason?: string) => (o: Obj): boolean => condition(o, "Ready")?.status === status && (reason === undefined || condition(o, "Ready")?.reason === reason);

describe("health of every kind, as kstatus and kubectl wait see it", () => {
  it("given every state the fleet can be brought to, then kstatus says Current only for what is done, Failed for what is stuck", async () => {
    const k = cases;
    await until(k["vm-running"]!, "Running", readyIs("True", "Running"));
    await until(k["vm-stopped"]!, "Stopped", (o) => readyIs("True")(o) && o.status?.phase === "Stopped");
    await until(k["vm-fits-no-host"]!, "Ready=False NoHostFits", readyIs("False", "NoHostFits"));
    await until(k["host-ready"]!, "Ready", readyIs("True"));
    // a guest that keeps stopping on its own (killed on its host, as a crashing one would stop)
    await until(k["vm-crash-looping"]!, "Running", readyIs("True", "Running"));
    for (let i = 0; i < 3; i++) {
      await execute("docker", ["-H", `unix://${dockerSocket}`, "kill", `${ns}.crashy`]);
      if (i < 2) await waitFor(`crashy started again (${i + 1})`, async () => ((await execute("docker", ["-H", `unix://${dockerSocket}`, "inspect", "-f", "{{.State.Running}}", `${ns}.crashy`])).stdout.trim() === "true" ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, onTimeout: logs });
    }
    const backingOff = await until(k["vm-crash-looping"]!, "Ready=False CrashLoopBackOff", readyIs("False", "CrashLoopBackOff"));
    await until(k["host-unreachable"]!, "Ready=False Unreachable", readyIs("False", "Unreachable"));
    await until(k["host-in-maintenance"]!, "InMaintenance", (o) => o.status?.phase === "InMaintenance");
    const mover = await waitFor("mover Ready", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "mover", ns);
      return got?.status?.host && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
    await until(c("Host", mover.status?.host === hostA ? hostB : hostA, "Current", "Healthy"), "Ready", readyIs("True"));
    await apply(admin, namespaced("VMMigration", "moved", { virtualMachine: "mover", live: false }));
    await until(k["vmmigration-succeeded"]!, "Succeeded", (o) => o.status?.phase === "Succeeded");
    await until(k["vmmigration-vm-not-found"]!, "Failed", (o) => o.status?.phase === "Failed");
    await until(k["vmmigration-vm-not-placed"]!, "Pending, waiting for its VM to be placed", readyIs("False", "VirtualMachineNotPlaced"));
    await until(k["vapp-running"]!, "Running", readyIs("True"));
    await until(k["vapp-stopped"]!, "Stopped", (o) => readyIs("True")(o) && o.status?.phase === "Stopped");
    await until(k["vapp-member-fits-no-host"]!, "Failed (30 s after its member could not be placed)", (o) => o.status?.phase === "Failed");
    await until(k["vdcquota-within-limits"]!, "Ready", readyIs("True"));
    await until(k["hostpool-ready"]!, "Ready", readyIs("True"));
    await until(k["hostpool-no-hosts"]!, "Ready=False NoHosts", readyIs("False", "NoHosts"));
    await until(k["datacenter-ready"]!, "Ready", readyIs("True"));
    await until(k["datacenter-no-hosts"]!, "Ready=False NoHosts", readyIs("False", "NoHosts"));
    await until(k["hapolicy-protecting"]!, "Ready", readyIs("True"));
    await until(k["hapolicy-failover-blocked"]!, "Ready=False FailoverBlocked", readyIs("False", "FailoverBlocked"));
    await until(k["drspolicy-manual"]!, "Ready", readyIs("True"));
    await until(k["drspolicy-automatic"]!, "Ready", readyIs("True"));
    await until(k["drspolicy-pool-not-found"]!, "Ready=False PoolNotFound", readyIs("False", "PoolNotFound"));
    // over its limit: made once the namespace's VMs exist (it would refuse them first)
    await apply(admin, namespaced("VDCQuota", "tight", { hard: { virtualMachines: 1 } }));
    await until(k["vdcquota-over-limit"]!, "Ready=False OverLimit", readyIs("False", "OverLimit"));
    // deleting: each held by a finalizer of ours once its controller has seen it
    const deleting = Object.values(k).filter((x) => x.kstatus === "Terminating");
    for (const x of deleting) await until(x, "Ready condition", (o) => condition(o, "Ready") !== undefined);
    for (const x of deleting) await kubectl(admin, ["delete", `${x.resource}.omnivisor.io`, x.name, ...(x.namespaced ? ["-n", ns] : []), "--wait=false"]);
    for (const x of deleting) await until(x, "being deleted", (o) => (o.metadata as { deletionTimestamp?: string }).deletionTimestamp !== undefined);

    const objects = await Promise.all(Object.entries(k).map(async ([key, x]) => (key === "vm-crash-looping" ? backingOff : (await get(x))!)));
    const computed = await kstatusOf(objects);
    const got = Object.fromEntries(Object.keys(k).map((key, i) => [key, computed[i]!.status]));
    const want = Object.fromEntries(Object.entries(k).map(([key, x]) => [key, x.kstatus]));
    expect(got, JSON.stringify(computed.filter((r, i) => r.status !== Object.values(k)[i]!.kstatus), null, 1)).toEqual(want);
    // every kind carries Ready, and Reconciling / Stalled as kstatus reads them
    for (const [key, o] of Object.keys(k).map((key, i) => [key, objects[i]!] as const)) {
      const x = k[key]!;
      expect(condition(o, "Ready"), `${key}: Ready`).toBeDefined();
      if (x.kstatus === "Failed") expect(condition(o, "Stalled")?.status, `${key}: Stalled`).toBe("True");
      if (x.kstatus === "InProgress") expect(condition(o, "Reconciling")?.status, `${key}: Reconciling`).toBe("True");
      if (x.kstatus === "Current") expect([condition(o, "Stalled"), condition(o, "Reconciling")], `${key}: neither`).toEqual([undefined, undefined]);
    }
    if (process.env["OMNIVISOR_CAPTURE_HEALTH"]) capture(objects);
  }, 400_000);

  it("kubectl wait --for=condition=Ready answers for every kind (and Ready=false for what is not)", async () => {
    for (const want of ["True", "False"] as const) {
      for (const namespacedOnes of [true, false]) {
        const names = Object.values(cases).filter((x) => x.ready === want && x.namespaced === namespacedOnes).map((x) => `${x.resource}.omnivisor.io/${x.name}`);
        const out = await kubectl(admin, ["wait", ...names, ...(namespacedOnes ? ["-n", ns] : []), `--for=condition=Ready${want === "False" ? "=false" : ""}`, "--timeout=30s"]);
        expect(out.trim().split("\n")).toHaveLength(names.length);
      }
    }
    // and `kubectl get -o wide` says why
    expect(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "nofit", "-n", ns, "-o", "wide"])).toMatch(/\bFalse\s+NoHostFits\b/);
  });
});

/** The objects as Argo CD reads them (no managedFields), one file per case. */
function capture(objects: Obj[]): void {
  const dir = join(repoRoot, "tests", "argocd", "fixtures");
  mkdirSync(dir, { recursive: true });
  Object.entries(cases).forEach(([key, x], i) => {
    const o = structuredClone(objects[i]!) as Obj & { metadata: Record<string, unknown> };
    delete o.metadata["managedFields"];
    writeFileSync(join(dir, `${x.kind}.${x.argo}.${key}.json`), `${JSON.stringify(o, null, 2)}\n`);
  });
}
