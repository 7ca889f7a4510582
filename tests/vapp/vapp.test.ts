// Scenario: vApps on the real libvirtd (QEMU, TCG) and dockerd through the operator (issue #22).
//   given a vApp of 10 members across libvirt and Docker in 3 start groups with delays
//   then  every member exists on its hypervisor before the first starts; the groups start in
//         order with their delays (judged from the hypervisors' own start times); Ready 10/10;
//         at rest nothing is written
//   when  a member is added, one removed and one changed  then  the VMs follow
//   when  spec.powerState is Stopped  then  the groups stop in reverse order
//   when  the VApp is deleted  then  all its VMs leave the hypervisors (garbage collector)
//   given a member whose image no host has  then  Rollback deletes every member, phase Failed
//         naming it; Keep leaves them, phase Failed
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { waitFor } from "../../src/local/wait.ts";
import { dockerSocket, libvirtUri, requireDocker, requireLibvirt } from "../harness/services.ts";
import { apply, condition, dockerContainers, endScenario, getObject, kubectl, removeLeftovers, scenarioLabel, startScopedOperator, virshDomains, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";
import { dockerTimes, libvirtTimes, type HypervisorTimes } from "./hypervisor-times.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `va-${run}`;
const prefix = `${ns}.`; // hypervisor names are <namespace>.<name>
const dc = `va-${run}-dc`;
const kvm = `va-${run}-kvm`;
const docker = `va-${run}-docker`;
let operator: Operator | undefined;
const logs = (): string => warnings(operator);

const host = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name, annotations, labels: scenarioLabel(ns) },
  spec: { datacenter: dc, ...spec },
});
const off = { mode: "Hard", timeoutSeconds: 5 };
const vmMember = (name: string) => ({ name, labels: { tier: "vm" }, spec: { cpus: 1, memory: "128Mi", powerOff: off, disks: [{ name: "root", image: "tiny" }], placement: { hosts: [kvm] } } });
const ctMember = (name: string, memory = "32Mi", image = "tiny") => ({ name, labels: { tier: "ct" }, spec: { cpus: 1, memory, powerOff: off, disks: [{ name: "root", image }], placement: { hosts: [docker] } } });
const vapp = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VApp", metadata: { name, namespace: ns, labels: scenarioLabel(ns) }, spec });

// 3 libvirt domains and 7 containers; 3 groups, then the member in none
const groups = [
  { name: "data", members: ["db", "ct-1", "ct-2"], delaySeconds: 0, waitFor: "Started" },
  { name: "app", members: ["app", "ct-3", "ct-4"], delaySeconds: 3, waitFor: "Ready" },
  { name: "web", members: ["web", "ct-5", "ct-6"], delaySeconds: 4, waitFor: "Started" },
];
const libvirtMembers = new Set(["db", "app", "web"]);
const shopSpec = (members: ReturnType<typeof ctMember>[] = [...["db", "app", "web"].map(vmMember), ...["ct-1", "ct-2", "ct-3", "ct-4", "ct-5", "ct-6", "ct-7"].map((n) => ctMember(n))]) => ({
  members,
  startOrder: groups,
});
const order = [...groups.map((g) => ({ name: g.name, members: g.members, delaySeconds: g.delaySeconds })), { name: "(rest)", members: ["ct-7"], delaySeconds: 0 }];

const hypervisorName = (app: string, member: string): string => `${ns}.${app}-${member}`;
const timesOf = (app: string, member: string): Promise<HypervisorTimes> => (libvirtMembers.has(member) ? libvirtTimes(hypervisorName(app, member)) : dockerTimes(hypervisorName(app, member)));
const getVApp = (name: string) => getObject(admin, "vapps.omnivisor.io", name, ns);
const last = (xs: number[]): number => xs[xs.length - 1] ?? Number.NaN;

async function vappPhase(name: string, phase: string, timeoutMs = 180_000): Promise<Obj> {
  return waitFor(`VApp ${name} ${phase}`, async () => {
    const got = await getVApp(name);
    if (phase !== "Failed" && got?.status?.phase === "Failed") throw new Error(`VApp ${name} failed: ${condition(got, "Ready")?.message ?? "?"}`);
    return got?.status?.phase === phase ? got : undefined;
  }, { timeoutMs, intervalMs: 300, onTimeout: logs });
}

async function versions(): Promise<Record<string, string>> {
  const list = JSON.parse(await kubectl(admin, ["get", "vapps.omnivisor.io,virtualmachines.omnivisor.io", "-n", ns, "-o", "json"])) as { items: { kind: string; metadata: { name: string; resourceVersion: string } }[] };
  return Object.fromEntries(list.items.map((o) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
}

async function eventReasons(name: string): Promise<string[]> {
  const events = JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", `involvedObject.kind=VApp,involvedObject.name=${name}`, "-o", "json"])) as { items: { reason: string }[] };
  return events.items.map((e) => e.reason);
}

/** A vApp's VMs on the hypervisors (name → state), both kinds. */
async function onHypervisors(app: string): Promise<Map<string, string>> {
  return new Map([...(await virshDomains(`${prefix}${app}-`)), ...(await dockerContainers(`${prefix}${app}-`))]);
}

beforeAll(async () => {
  await requireLibvirt();
  await requireDocker();
  await removeLeftovers(prefix);
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "Datacenter",
      metadata: { name: dc },
      spec: {
        imageStore: { location: omnivisorImageStore() },
        images: [
          { name: "tiny", sources: { libvirt: "tiny-vm", docker: "busybox:local" } },
          // no host of this scenario has it: ESXi only
          { name: "esx-only", sources: { esxi: "no-such-disk" } },
        ],
      },
    },
    // overcommitted: 2 CPUs here, and placement counts what members are given, not what they use
    host(kvm, { driver: "libvirt", endpoint: libvirtUri, cpuOvercommit: 8 }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
    host(docker, { driver: "docker", endpoint: `unix://${dockerSocket}`, cpuOvercommit: 16 }),
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
  for (const name of [kvm, docker]) {
    await waitFor(`${name} Ready`, async () => (condition(await getObject(admin, "hosts.omnivisor.io", name), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
  }
}, 120_000);

afterAll(async () => {
  await kubectl(admin, ["delete", "vapps.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await endScenario(admin, ns, `va-${run}`, operator);
  await removeLeftovers(prefix);
});

describe("a vApp of 10 members across libvirt and Docker", () => {
  it("given 3 start groups with delays, then every member exists before the first starts, the groups start in order with their delays, and it is Ready 10/10", async () => {
    await apply(admin, vapp("shop", shopSpec()));
    const running = await vappPhase("shop", "Running");
    const ready = await waitFor("shop Ready 10/10", async () => {
      const got = await getVApp("shop");
      return condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(ready.status).toMatchObject({ ready: 10, total: 10 });
    expect(running.status?.["groups"]).toHaveLength(4);
    const members = ready.status?.["members"] as { name: string; virtualMachine: string; phase: string }[];
    expect(members.map((m) => [m.name, m.virtualMachine, m.phase])).toEqual(shopSpec().members.map((m) => [m.name, `shop-${m.name}`, "Running"]));

    // the hypervisors' own record
    const times = new Map<string, HypervisorTimes>();
    for (const m of shopSpec().members) times.set(m.name, await timesOf("shop", m.name));
    const all = [...times.values()];
    const firstStart = Math.min(...all.map((t) => t.starts[0] ?? Number.NaN));
    const lastExists = Math.max(...all.map((t) => t.existsSince));
    expect(all.every((t) => t.starts.length === 1), "each member started once").toBe(true);
    expect(lastExists, "the last member came to exist before the first one started").toBeLessThan(firstStart);
    for (let i = 1; i < order.length; i++) {
      const before = order[i - 1]!;
      const group = order[i]!;
      const previousLast = Math.max(...before.members.map((m) => times.get(m)!.starts[0]!));
      const firstOfGroup = Math.min(...group.members.map((m) => times.get(m)!.starts[0]!));
      expect(firstOfGroup - previousLast, `group ${group.name} starts ${group.delaySeconds} s or more after group ${before.name}'s last start`).toBeGreaterThanOrEqual(group.delaySeconds * 1000);
    }

    // the VMs: owned by the VApp, labelled, named <vapp>-<member>
    const db = await getObject(admin, "virtualmachines.omnivisor.io", "shop-db", ns);
    const meta = db?.metadata as unknown as { labels: Record<string, string>; ownerReferences: object[] };
    expect(meta.labels).toMatchObject({ tier: "vm", "omnivisor.io/vapp": "shop", "omnivisor.io/vapp-member": "db", ...scenarioLabel(ns) });
    expect(meta.ownerReferences).toEqual([{ apiVersion: "omnivisor.io/v1alpha1", kind: "VApp", name: "shop", uid: ready.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(db?.status).toMatchObject({ host: kvm, powerState: "Running" });
    expect(new Set(await eventReasons("shop"))).toEqual(new Set(["CreatingMembers", "Provisioned", "PoweringOn", "GroupStarted", "Running"]));

    // at rest: nothing written, VApp or VMs (longer than the VM controller's 15 s re-observation)
    const before = await versions();
    const logged = operator!.output.length;
    expect(operator!.output.join("").match(/applying a member's VirtualMachine/g)?.length, "the applies that made and started the members were logged").toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 17_000));
    expect(await versions()).toEqual(before);
    expect(operator!.output.slice(logged).join("").match(/applying a member's VirtualMachine.*/g) ?? [], "no apply request at rest, not even a no-op one").toEqual([]);
  }, 300_000);

  it("when a member is added, one removed and one changed, then the VMs follow and the VApp's spec is not written", async () => {
    const generation = (await getVApp("shop"))!.metadata as unknown as { generation: number };
    const edited = shopSpec([...shopSpec().members.filter((m) => m.name !== "ct-7").map((m) => (m.name === "ct-1" ? ctMember("ct-1", "48Mi") : m)), ctMember("ct-8")]);
    await apply(admin, vapp("shop", edited));
    await waitFor("ct-7 gone, ct-8 running, ct-1 resized", async () => {
      const states = await dockerContainers(`${prefix}shop-`);
      const ct1 = await getObject(admin, "virtualmachines.omnivisor.io", "shop-ct-1", ns);
      const ct7 = await getObject(admin, "virtualmachines.omnivisor.io", "shop-ct-7", ns);
      return !states.has(hypervisorName("shop", "ct-7")) && ct7 === undefined && states.get(hypervisorName("shop", "ct-8")) === "running" && ct1?.spec["memory"] === "48Mi" ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
    const after = await waitFor("shop Ready 10/10 again", async () => {
      const got = await getVApp("shop");
      return condition(got, "Ready")?.status === "True" && got?.status?.["total"] === 10 ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect((after.status?.["members"] as { name: string }[]).map((m) => m.name)).toContain("ct-8");
    expect((after.metadata as unknown as { generation: number }).generation).toBe(generation.generation + 1);
    expect(await kubectl(admin, ["diff", "-f", "-"], JSON.stringify(vapp("shop", edited)))).toBe("");
    expect(await eventReasons("shop")).toEqual(expect.arrayContaining(["RemovedMember", "UpdatedMember"]));
  }, 180_000);

  it("when spec.powerState is Stopped, then the groups stop in reverse start order", async () => {
    await kubectl(admin, ["patch", "vapps.omnivisor.io", "shop", "-n", ns, "--type=merge", "-p", '{"spec":{"powerState":"Stopped"}}']);
    const stopped = await vappPhase("shop", "Stopped", 120_000);
    expect(stopped.status?.["groups"]).toBeUndefined();
    expect(condition(stopped, "Ready")).toMatchObject({ status: "True", reason: "Stopped" });
    const states = await onHypervisors("shop");
    expect([...states.values()].every((s) => s === "shut off" || s === "exited"), JSON.stringify([...states])).toBe(true);
    const reversed = [{ name: "(rest)", members: ["ct-8"] }, ...[...groups].reverse()];
    const stopTimes = new Map<string, number>();
    for (const g of reversed) for (const m of g.members) stopTimes.set(m, last((await timesOf("shop", m)).stops));
    for (let i = 1; i < reversed.length; i++) {
      const lastOfBefore = Math.max(...reversed[i - 1]!.members.map((m) => stopTimes.get(m)!));
      const firstOfGroup = Math.min(...reversed[i]!.members.map((m) => stopTimes.get(m)!));
      expect(firstOfGroup, `group ${reversed[i]!.name} stops after group ${reversed[i - 1]!.name}`).toBeGreaterThanOrEqual(lastOfBefore);
    }
    expect(await eventReasons("shop")).toEqual(expect.arrayContaining(["PoweringOff", "GroupStopped", "Stopped"]));
  }, 180_000);

  it("when the VApp is deleted, then the garbage collector deletes its VMs and they leave the hypervisors", async () => {
    expect((await onHypervisors("shop")).size).toBe(10);
    await kubectl(admin, ["delete", "vapps.omnivisor.io", "shop", "-n", ns, "--wait=true", "--timeout=60s"]);
    await waitFor("shop's VMs gone from the API and the hypervisors", async () => {
      const vms = (await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-l", "omnivisor.io/vapp=shop", "-o", "name"])).trim();
      return vms === "" && (await onHypervisors("shop")).size === 0 ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
  }, 180_000);
});

describe("a vApp whose operator is killed during a start delay", () => {
  it("when a new operator takes over, then it carries on from status: the delay still holds and nothing is made or started twice", async () => {
    await apply(admin, vapp("crash", { members: [ctMember("first"), ctMember("second")], startOrder: [{ name: "one", members: ["first"] }, { name: "two", members: ["second"], delaySeconds: 8 }] }));
    await waitFor("crash waiting for group two's delay", async () => (condition(await getVApp("crash"), "Ready")?.reason === "WaitingForDelay" ? true : undefined), { timeoutMs: 60_000, intervalMs: 200, onTimeout: logs });
    await operator!.kill();
    operator = startScopedOperator(operatorKubeconfig, ns);
    // Running once every group has started; each member's Ready follows as its VM reports in
    await vappPhase("crash", "Running", 60_000);
    const running = await waitFor("crash Ready 2/2", async () => {
      const got = await getVApp("crash");
      return got?.status?.ready === 2 ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(running.status).toMatchObject({ phase: "Running", ready: 2, total: 2 });
    const [first, second] = [await dockerTimes(hypervisorName("crash", "first")), await dockerTimes(hypervisorName("crash", "second"))];
    expect(second.starts[0]! - first.starts[0]!, "group two starts 8 s or more after group one").toBeGreaterThanOrEqual(8_000);
    expect(second.existsSince, "made once: before the first start, by the first operator").toBeLessThan(first.starts[0]!);
    expect((await dockerContainers(`${prefix}crash-`)).size).toBe(2);
  }, 120_000);
});

describe("a vApp whose member's VM name is taken", () => {
  it("given a VirtualMachine of that name made by someone else, then the member fails (NameTaken), the vApp rolls back its own VMs, and that VM is left untouched", async () => {
    const theirs = { apiVersion: "omnivisor.io/v1alpha1", kind: "VirtualMachine", metadata: { name: "taken-db", namespace: ns, labels: { owner: "someone" } }, spec: { ...ctMember("db").spec, powerState: "Stopped" } };
    await apply(admin, theirs, vapp("taken", { members: [ctMember("db"), ctMember("web")] }));
    const failed = await vappPhase("taken", "Failed", 60_000);
    expect(failed.status?.["failure"]).toMatchObject({ member: "db", reason: "NameTaken" });
    expect(condition(failed, "Ready")?.message).toContain("VirtualMachine taken-db already exists and is not part of this vApp");
    expect(await getObject(admin, "virtualmachines.omnivisor.io", "taken-web", ns)).toBeUndefined();
    const left = await getObject(admin, "virtualmachines.omnivisor.io", "taken-db", ns);
    const meta = left?.metadata as unknown as { labels: Record<string, string>; ownerReferences?: unknown[] };
    expect(meta.ownerReferences).toBeUndefined();
    expect(meta.labels).toEqual({ owner: "someone" });
    expect(left?.spec["powerState"]).toBe("Stopped");
  }, 120_000);
});

describe("a vApp whose member's VirtualMachine the API server refuses", () => {
  it("given a vApp name too long for its VMs' label (over 63 characters), then the API server refuses the VApp itself, naming metadata.name, and no VM is made", async () => {
    const long = "a".repeat(64);
    const refused = await kubectl(admin, ["create", "-f", "-"], JSON.stringify(vapp(long, { members: [ctMember("a"), ctMember("web")] }))).then(
      () => "created",
      (err: unknown) => String(err),
    );
    expect(refused).toMatch(/metadata\.name: Too long/);
    expect(await getObject(admin, "vapps.omnivisor.io", long, ns)).toBeUndefined();
    expect(await getObject(admin, "virtualmachines.omnivisor.io", `${long}-a`, ns)).toBeUndefined();
  }, 60_000);
});

describe("a vApp with a member whose image no host has", () => {
  const spec = (failurePolicy: string) => ({ failurePolicy, members: [ctMember("ok-1"), ctMember("ok-2"), ctMember("bad", "32Mi", "esx-only")] });

  it("Rollback: every member created is deleted, phase Failed naming it; Keep: the members are left, phase Failed", async () => {
    await apply(admin, vapp("rb", spec("Rollback")), vapp("keep", spec("Keep")));
    // the good members are made (held stopped) while the bad one cannot be placed
    await waitFor("rb's good members on Docker", async () => ((await dockerContainers(`${prefix}rb-`)).size === 2 ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect([...(await dockerContainers(`${prefix}rb-`)).values()], "held stopped").not.toContain("running");

    const rolledBack = await vappPhase("rb", "Failed", 120_000);
    expect(rolledBack.status?.["failure"]).toMatchObject({ member: "bad", reason: "Unschedulable" });
    const message = condition(rolledBack, "Ready")?.message ?? "";
    expect(condition(rolledBack, "Ready")).toMatchObject({ status: "False", reason: "MemberFailed" });
    expect(message).toContain("member bad (VirtualMachine rb-bad)");
    expect(message).toContain("no docker source for image esx-only");
    expect(message).toContain("rolled back");
    expect((await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-l", "omnivisor.io/vapp=rb", "-o", "name"])).trim()).toBe("");
    expect(await dockerContainers(`${prefix}rb-`)).toEqual(new Map());
    expect(await eventReasons("rb")).toEqual(expect.arrayContaining(["MemberFailed", "RollingBack", "RolledBack"]));

    const kept = await vappPhase("keep", "Failed", 60_000);
    expect(kept.status?.["failure"]).toMatchObject({ member: "bad", reason: "Unschedulable" });
    expect(condition(kept, "Ready")?.message).toContain("failurePolicy Keep");
    const vms = (await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-l", "omnivisor.io/vapp=keep", "-o", "name"])).trim().split("\n").sort();
    expect(vms).toEqual(["virtualmachine.omnivisor.io/keep-bad", "virtualmachine.omnivisor.io/keep-ok-1", "virtualmachine.omnivisor.io/keep-ok-2"]);
    expect(await dockerContainers(`${prefix}keep-`)).toEqual(new Map([[`${prefix}keep-ok-1`, "created"], [`${prefix}keep-ok-2`, "created"]]));
  }, 240_000);
});
