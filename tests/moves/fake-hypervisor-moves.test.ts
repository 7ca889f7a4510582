// Scenario: live moves through the operator on the two hypervisors that cannot run here, against
// their protocol FAKES (tests/fakes): a FAKE XAPI pool of two hosts (master 127.0.0.1, member
// 127.0.0.2 — one JSON-RPC fake, the member's endpoint answering HOST_IS_SLAVE) registered as two
// XenServer Hosts, and two linked FAKE WinRM / Hyper-V hosts (127.0.0.1 and 127.0.0.2) registered
// as two Hyper-V Hosts. Passing shows the operator and drivers against our reading of XAPI and
// Hyper-V's PowerShell, not behaviour on real hosts.
//   given  a running VM on one Host of each pair
//   when   a VMMigration asks for it on the other Host
//   then   it Succeeds with status.host the target, its progress was in status while Running, the
//          VM was seen Running at every poll (on the source, then the target), and
//          the hypervisor holds exactly one copy, running on the target — for XenServer, where
//          every session sees the whole pool, the VM in the pool resident on the target host.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { VMState } from "../fakes/winrm/hyperv.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `fm-${run}`;
const dc = `fm-${run}-dc`;
const xenCredentials = { username: "root", password: `xapi-${randomBytes(6).toString("hex")}` };
const winrmCredentials = { username: "Administrator", password: `winrm-${randomBytes(6).toString("hex")}` };
/**
 * How long a fake's move takes here. Their default, 400 ms, is shorter than the 500 ms at which
 * the VMMigration controller reads progress: a move can end before any read (at 400 ms Hyper-V's
 * progress was seen in no Running status, two runs of two).
 */
const moveMs = 2_500;

let xapi: FakeXapiServer;
let hvA: FakeWinrmServer;
let hvB: FakeWinrmServer;
let operator: Operator | undefined;
const logs = (): string => warnings(operator);

type Kind = "xenserver" | "hyperv";
const hostName = (kind: Kind, which: "a" | "b") => `fm-${run}-${kind}-${which}`;
const secret = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
const host = (kind: Kind, which: "a" | "b", spec: Record<string, unknown>) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name: hostName(kind, which), labels: scenarioLabel(ns) },
  spec: { datacenter: dc, driver: kind, cpuOvercommit: 8, credentialsSecretRef: { name: kind, namespace: ns }, ...spec },
});
// one VM per driver, in this scenario's datacenter only (Hosts are cluster-wide)
const vmOf = (kind: Kind) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: kind, namespace: ns },
  spec: { cpus: 1, memory: "256Mi", disks: [{ name: "root", size: "1Gi" }], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { datacenter: dc, driver: kind } },
});
const migration = (kind: Kind, targetHost: string) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VMMigration", metadata: { name: `${kind}-move`, namespace: ns }, spec: { virtualMachine: kind, targetHost } });
const progressOf = (m: Obj): number | undefined => (m.status as { progress?: { percent?: number } } | undefined)?.progress?.percent;

beforeAll(async () => {
  xapi = await FakeXapiServer.start({ ...xenCredentials, poolMembers: ["127.0.0.2"], migrationMs: moveMs });
  [hvA, hvB] = await Promise.all([
    FakeWinrmServer.start({ ...winrmCredentials, address: "127.0.0.1", computerName: "FAKE-HYPERV-A" }),
    FakeWinrmServer.start({ ...winrmCredentials, address: "127.0.0.2", computerName: "FAKE-HYPERV-B" }),
  ]);
  hvA.linkForMigration(hvB);
  for (const hv of [hvA, hvB]) hv.hyperv.migrations.migrationMs = moveMs;
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    secret("xenserver", xenCredentials),
    secret("hyperv", winrmCredentials),
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "the fakes' own disks" } } },
    host("xenserver", "a", { endpoint: xapi.url }),
    host("xenserver", "b", { endpoint: xapi.memberUrl(0) }),
    host("hyperv", "a", { endpoint: hvA.url, tls: { caBundle: hvA.caPem } }),
    host("hyperv", "b", { endpoint: hvB.url, tls: { caBundle: hvB.caPem } }),
    vmOf("xenserver"),
    vmOf("hyperv"),
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 60_000);

afterAll(async () => {
  await endScenario(admin, ns, `fm-${run}`, operator);
  await writeFile(join(tmpdir(), `omni-fake-moves-${run}-operator.log`), (operator?.output ?? []).join("")).catch(() => undefined);
  await Promise.all([xapi?.stop(), hvA?.stop(), hvB?.stop()]);
});

/** Moves the kind's VM to the Host it is not on; returns its VMMigration's Running statuses, the final one, and the target. */
async function move(kind: Kind): Promise<{ running: Obj[]; done: Obj; source: string; target: string; vmStates: string[] }> {
  const vmStates: string[] = [];
  const placed = await waitFor(`${kind} VM Running`, async () => {
    const got = await getObject(admin, "virtualmachines.omnivisor.io", kind, ns);
    return got?.status?.host !== undefined && got.status.powerState === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
  }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
  const source = placed.status!.host!;
  const target = source === hostName(kind, "a") ? hostName(kind, "b") : hostName(kind, "a");
  await waitFor(`${target} Ready`, async () => (condition(await getObject(admin, "hosts.omnivisor.io", target), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });

  await apply(admin, migration(kind, target));
  const running: Obj[] = [];
  const done = await waitFor(`VMMigration ${kind}-move Succeeded`, async () => {
    const [m, vm] = await Promise.all([getObject(admin, "vmmigrations.omnivisor.io", `${kind}-move`, ns), getObject(admin, "virtualmachines.omnivisor.io", kind, ns)]);
    vmStates.push(`${String(vm?.status?.phase)}/${String(vm?.status?.powerState)} on ${String(vm?.status?.host)}`);
    if (m?.status?.phase === "Failed") throw new Error(`the ${kind} move failed: ${condition(m, "Ready")?.message ?? "?"}`);
    if (m?.status?.phase === "Running") running.push(m);
    return m?.status?.phase === "Succeeded" ? m : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100, onTimeout: logs });
  return { running, done, source, target, vmStates };
}

function expectMoved(kind: Kind, { running, done, source, target, vmStates }: Awaited<ReturnType<typeof move>>, vm: Obj | undefined): void {
  expect(done.status).toMatchObject({ sourceHost: source, targetHost: target, mode: "Live", phase: "Succeeded" });
  // a live move: the VM is seen Running throughout, on the source and then on the target — never
  // Unknown when it leaves the source (the status watcher of a polled driver sees it missing there)
  const allowed = [`Running/Running on ${source}`, `Running/Running on ${target}`];
  expect(vmStates.filter((s) => !allowed.includes(s)), `${kind}: the VM as seen at each poll: ${vmStates.join(", ")}`).toEqual([]);
  expect(vmStates[0]).toBe(`Running/Running on ${source}`);
  const percents = running.map(progressOf).filter((p) => p !== undefined);
  expect(percents.some((p) => p > 0 && p < 100), `${kind}: progress while Running: ${percents.join(", ") || "none"} (${running.length} Running statuses)`).toBe(true);
  expect(vm?.status).toMatchObject({ host: target, driver: kind, powerState: "Running" });
}

describe("live moves on the FAKE XenServer pool and FAKE Hyper-V hosts, through the operator", () => {
  it("XenServer: a running VM moves to the other host of the pool; the pool holds one copy, resident on the target", async () => {
    const moved = await move("xenserver");
    const vm = await waitFor("the VM recorded on the target", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "xenserver", ns);
      return got?.status?.host === moved.target ? got : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, onTimeout: logs });
    expectMoved("xenserver", moved, vm);
    const targetRef = moved.target === hostName("xenserver", "a") ? xapi.refs.host : xapi.refs.members[0];
    const copies = xapi.db.all("VM").filter(([, r]) => r["name_label"] === `${ns}.xenserver`).map(([, r]) => r);
    expect(copies.map((r) => [r["power_state"], r["resident_on"], r["uuid"]])).toEqual([["Running", targetRef, vm?.status?.externalId]]);
  });

  it("Hyper-V: a running VM moves to the other host; only the target holds it, running", async () => {
    const moved = await move("hyperv");
    const vm = await getObject(admin, "virtualmachines.omnivisor.io", "hyperv", ns);
    expectMoved("hyperv", moved, vm);
    const [targetFake, sourceFake] = moved.target === hostName("hyperv", "a") ? [hvA, hvB] : [hvB, hvA];
    const named = (fake: FakeWinrmServer) => [...fake.hyperv.vms.values()].filter((v) => v.Name === `${ns}.hyperv`);
    expect(named(sourceFake)).toEqual([]);
    expect(named(targetFake).map((v) => [v.State, v.Id])).toEqual([[VMState.Running, vm?.status?.externalId]]);
  });
});
