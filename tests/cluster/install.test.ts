// Scenario: Omnivisor installed with its Helm chart on a real one-node cluster (kubelet +
// containerd, tests/harness/test-node.ts), the operator image built here and imported.
//   given `helm install --wait`
//   then  both manager pods are Ready and one holds the Lease; the status watcher's pod on the
//         node follows the node's libvirtd and dockerd Hosts (it holds their heartbeat Leases) and
//         they are Ready; a VirtualMachine applied with kubectl runs on libvirt, one on Docker;
//         the watcher, user 65532, reaches both host sockets through its read-only mounts
//   when  the leading manager's process crashes (SIGKILL)
//   then  it restarts in its pod and, holding the same identity (its pod's name), leads again
//   when  the leading manager's pod is killed (SIGKILL and the pod force-deleted)
//   then  the other one leads and reconciles a VM created meanwhile
//   when  the leader's pod is deleted (SIGTERM)
//   then  it hands the Lease over (timings: bench/install.ts, bench/results/install.md)
//   when  `helm upgrade` changes a value
//   then  the managers roll to the new template, not one write reaches a VirtualMachine, and the
//         webhook certificates the managers made are kept
//   when  `helm uninstall`
//   then  the VMs keep running on libvirtd and dockerd; installing again picks them up, and
//         deleting them then removes them from the hypervisors (the documented clean-up).
// The hypervisors are this machine's: pods reach them on the cni0 bridge address (TCP forwards
// to their unix sockets), so no traffic leaves the machine — the node's egress drop counter
// stays 0.
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { heartbeatLeaseName } from "../../src/fleet/heartbeat-lease.ts";
import { waitFor } from "../../src/local/wait.ts";
import { requireDocker, requireLibvirt } from "../harness/services.ts";
import { startTestNode, type TestNode } from "../harness/test-node.ts";
import { ListWatch } from "../harness/watch.ts";
import { dockerContainers, removeLeftovers, virshDomains } from "../lifecycle/fixtures.ts";
import {
  SocketForward,
  bridgeAddress,
  buildImage,
  dockerSocket,
  dockerVm,
  fleet,
  helm,
  helmInstall,
  kubectlOn,
  leaseHolder,
  libvirtSocket,
  libvirtVm,
  podProcess,
  pods,
  waitForLeader,
} from "./install-fixtures.ts";

const id = randomBytes(3).toString("hex");
const release = "omnivisor";
const system = "omnivisor-system";
const lease = `${release}-manager`;
const ns = `install-${id}`;
const prefix = `install-${id}`;
let node: TestNode;
let kubectl: ReturnType<typeof kubectlOn>;
let tag = "";
const forwards: SocketForward[] = [];
let endpoints = { libvirt: "", docker: "" };
const trace: string[] = [];

interface Vm {
  metadata: { name: string; resourceVersion: string; generation: number };
  status?: { phase?: string; host?: string; powerState?: string; observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

async function vm(name: string): Promise<Vm | undefined> {
  const out = await kubectl(["get", "virtualmachines.omnivisor.io", name, "-n", ns, "-o", "json", "--ignore-not-found"]);
  return out.trim() ? (JSON.parse(out) as Vm) : undefined;
}

const running = (v: Vm | undefined): boolean => v?.status?.phase === "Running" && v.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

/** The node's recent log lines, for a timeout's message. */
function logs(): string {
  return trace.slice(-30).join("\n");
}

async function waitRunning(name: string, timeoutMs = 120_000): Promise<Vm> {
  return waitFor(`${name} Running`, async () => {
    const got = await vm(name);
    return running(got) ? got : undefined;
  }, { timeoutMs, intervalMs: 300, onTimeout: logs });
}

/** kubectl apply of a VM, again while no manager answers the webhook (a user would retry too). */
async function applyVm(obj: object): Promise<void> {
  await waitFor("the VM accepted by the API server (webhook answering)", () => kubectl(["apply", "-f", "-"], stringify(obj)).then(() => true), { timeoutMs: 60_000, intervalMs: 250 });
}

const managerNames = async (): Promise<string[]> => (await pods(node.kubeconfig, system, "manager")).filter((p) => !p.deleting).map((p) => p.name);

beforeAll(async () => {
  await requireLibvirt();
  await requireDocker();
  const image = await buildImage();
  tag = image.tag;
  node = await startTestNode({ log: (line) => trace.push(line) });
  kubectl = kubectlOn(node.kubeconfig);
  await node.importImage(image.tar);
  await kubectl(["label", "node", node.nodeName, "omnivisor.io/hypervisor=true", "--overwrite"]);
  const gateway = bridgeAddress();
  const libvirt = await SocketForward.start(gateway, libvirtSocket);
  const docker = await SocketForward.start(gateway, dockerSocket);
  forwards.push(libvirt, docker);
  endpoints = { libvirt: `qemu+tcp://${gateway}:${libvirt.port}/system`, docker: `tcp://${gateway}:${docker.port}` };
  await kubectl(["create", "namespace", ns]);
  // Another test file's node may hold the host first: startTestNode waits up to 15 min for it.
}, 1_000_000);

afterAll(async () => {
  if (node) {
    await helm(["uninstall", release, "--kubeconfig", node.kubeconfig, "-n", system, "--wait"]).catch(() => undefined);
    await node.stop();
  }
  for (const f of forwards) await f.stop();
  await removeLeftovers(`${ns}.`);
}, 180_000);

describe("Omnivisor installed with Helm on a real node", () => {
  it("given helm install, then both managers are Ready, one leads, and the node's watcher serves its libvirtd and dockerd Hosts", { timeout: 400_000 }, async () => {
    const dockerGroup = statSync(dockerSocket).gid;
    const notes = await helmInstall("install", { kubeconfig: node.kubeconfig, release, namespace: system, tag, set: { "statusWatcher.socketGroups[0]": String(dockerGroup) } });
    expect(notes).toContain("is installed in namespace omnivisor-system");
    expect(notes).toContain(`kubectl -n omnivisor-system get lease ${lease}`);
    const managers = await pods(node.kubeconfig, system, "manager");
    expect(managers).toHaveLength(2);
    for (const p of managers) expect(p, `manager pod ${p.name}`).toMatchObject({ ready: true, phase: "Running", node: node.nodeName });
    const leader = await waitForLeader(node.kubeconfig, system, lease, managerNames);
    expect(managers.map((p) => p.name)).toContain(leader);

    // The chart brought the CRDs: describe the node's hypervisors.
    await kubectl(["apply", "-f", "-"], fleet(prefix, node.nodeName, endpoints).map((o) => stringify(o)).join("---\n"));

    const [watcher] = await pods(node.kubeconfig, system, "status-watcher");
    expect(watcher).toMatchObject({ ready: true, node: node.nodeName });
    for (const host of [`${prefix}-libvirt`, `${prefix}-docker`]) {
      await waitFor(`${host} Ready`, async () => {
        const out = await kubectl(["get", "hosts.omnivisor.io", host, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"]);
        return out.trim() === "True" ? true : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: logs });
      // The node's status watcher, not the manager's, follows a Host bound to the node.
      const holder = await waitFor(`heartbeat Lease of ${host}`, () => leaseHolder(node.kubeconfig, system, heartbeatLeaseName(host)), { timeoutMs: 60_000, intervalMs: 300 });
      expect(holder, `holder of ${host}'s heartbeat`).toBe(watcher!.name);
    }
  });

  it("then a VirtualMachine applied with kubectl runs on libvirt and one on Docker", { timeout: 300_000 }, async () => {
    await applyVm(libvirtVm("kvm-1", ns, `${prefix}-libvirt`));
    await applyVm(dockerVm("box-1", ns, `${prefix}-docker`));
    expect((await waitRunning("kvm-1")).status?.host).toBe(`${prefix}-libvirt`);
    expect((await waitRunning("box-1")).status?.host).toBe(`${prefix}-docker`);
    expect((await virshDomains(`${ns}.`)).get(`${ns}.kvm-1`)).toBe("running");
    expect((await dockerContainers(`${ns}.`)).get(`${ns}.box-1`)).toBe("running");
  });

  it("then the watcher, user 65532 with no capabilities, reaches both host sockets through its read-only mounts", async () => {
    const [watcher] = await pods(node.kubeconfig, system, "status-watcher");
    const probe = `const net=require("node:net");const t=(p)=>new Promise((ok)=>{const s=net.createConnection(p,()=>{s.end();ok("ok")});s.on("error",(e)=>ok(e.code))});Promise.all([t(${JSON.stringify(libvirtSocket)}),t(${JSON.stringify(dockerSocket)})]).then((r)=>console.log(JSON.stringify({uid:process.getuid(),groups:process.getgroups(),r})))`;
    const out = JSON.parse(await kubectl(["exec", "-n", system, watcher!.name, "--", "/usr/local/bin/node", "-e", probe])) as { uid: number; groups: number[]; r: string[] };
    expect(out.uid).toBe(65532);
    expect(out.r).toEqual(["ok", "ok"]);
    expect(out.groups).toContain(statSync(dockerSocket).gid);
  });

  it("when the leading manager's process crashes, then it restarts in its pod and leads again (its identity is its pod's name)", { timeout: 180_000 }, async () => {
    const before = await waitForLeader(node.kubeconfig, system, lease, managerNames);
    const restarts = (await pods(node.kubeconfig, system, "manager")).find((p) => p.name === before)!.restarts;
    process.kill(await podProcess(before), "SIGKILL");
    await waitFor("the crashed manager restarted", async () => ((await pods(node.kubeconfig, system, "manager")).find((p) => p.name === before)?.restarts ?? 0) > restarts ? true : undefined, { timeoutMs: 90_000, intervalMs: 200 });
    await applyVm(dockerVm("box-after-crash", ns, `${prefix}-docker`));
    await waitRunning("box-after-crash");
    expect(await leaseHolder(node.kubeconfig, system, lease)).toBe(before);
  });

  it("when the leading manager's pod is killed (SIGKILL, pod force-deleted), then the other one leads and reconciles what changed meanwhile", { timeout: 180_000 }, async () => {
    await waitFor("both managers Ready", async () => ((await pods(node.kubeconfig, system, "manager")).filter((p) => p.ready && !p.deleting).length === 2 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    const before = await waitForLeader(node.kubeconfig, system, lease, managerNames);
    process.kill(await podProcess(before), "SIGKILL");
    await kubectl(["delete", "pod", "-n", system, before, "--grace-period=0", "--force", "--wait=false"]);
    await applyVm(dockerVm("box-after-kill", ns, `${prefix}-docker`));
    const after = await waitFor("a new Lease holder", async () => {
      const holder = await leaseHolder(node.kubeconfig, system, lease);
      return holder && holder !== before ? holder : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100, onTimeout: logs });
    expect(await managerNames()).toContain(after);
    await waitRunning("box-after-kill");
    // The ReplicaSet replaces the killed pod; it stands by: two Ready managers again.
    await waitFor("both managers Ready again", async () => ((await pods(node.kubeconfig, system, "manager")).filter((p) => p.ready).length === 2 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  });

  it("when the leader's pod is deleted, then it hands the Lease over to the other one", { timeout: 180_000 }, async () => {
    const before = await waitForLeader(node.kubeconfig, system, lease, managerNames);
    await kubectl(["delete", "pod", "-n", system, before, "--wait=false"]);
    const after = await waitFor("the Lease handed over", async () => {
      const holder = await leaseHolder(node.kubeconfig, system, lease);
      return holder && holder !== before ? holder : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, onTimeout: logs });
    expect(after).not.toBe(before);
    await applyVm(dockerVm("box-after-handover", ns, `${prefix}-docker`));
    await waitRunning("box-after-handover");
    await waitFor("two Ready managers", async () => ((await pods(node.kubeconfig, system, "manager")).filter((p) => p.ready && !p.deleting).length === 2 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  });

  it("when helm upgrade changes a value, then the managers roll and nothing is written to a VirtualMachine", { timeout: 400_000 }, async () => {
    const names = ["kvm-1", "box-1", "box-after-crash", "box-after-kill", "box-after-handover"];
    for (const n of names) await waitRunning(n);
    // Let in-flight status settle, then count every write from here on.
    await new Promise((r) => setTimeout(r, 5_000));
    const versions = async (): Promise<Record<string, string>> => Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await vm(n))!.metadata.resourceVersion] as const)));
    const before = await versions();
    const certificates = async (): Promise<string> =>
      (await kubectl(["get", "secret", `${release}-webhook-cert`, "-n", system, "-o", "jsonpath={.data.tls\\.crt}"])) +
      "|" + (await kubectl(["get", "validatingwebhookconfiguration", `${release}-${system}`, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"]));
    const certificatesBefore = await certificates();
    expect(certificatesBefore).toMatch(/^LS0t.+\|LS0t/); // PEM, base64: the managers filled both
    const watch = new ListWatch(node.controlPlane.admin, `/apis/omnivisor.io/v1alpha1/namespaces/${ns}/virtualmachines`);
    await watch.start();
    const oldPods = await managerNames();
    try {
      await helmInstall("upgrade", { kubeconfig: node.kubeconfig, release, namespace: system, tag, set: { "statusWatcher.socketGroups[0]": String(statSync(dockerSocket).gid), "logLevel": "debug", "manager.podAnnotations.rolled": `upgrade-${id}` } });
      await waitFor("the managers rolled", async () => {
        const now = await pods(node.kubeconfig, system, "manager");
        const fresh = now.filter((p) => !oldPods.includes(p.name) && p.ready && !p.deleting);
        return fresh.length === 2 && now.every((p) => !oldPods.includes(p.name)) ? fresh : undefined;
      }, { timeoutMs: 180_000, intervalMs: 500 });
      await waitForLeader(node.kubeconfig, system, lease, managerNames);
      await new Promise((r) => setTimeout(r, 5_000));
    } finally {
      watch.stop();
    }
    expect(watch.events.filter((e) => e.type !== "ADDED"), "VirtualMachine writes during the upgrade").toEqual([]);
    expect(await versions()).toEqual(before);
    // The chart renders the Secret empty and no caBundle: the upgrade kept what the managers made.
    expect(await certificates()).toBe(certificatesBefore);
    await applyVm(dockerVm("box-after-upgrade", ns, `${prefix}-docker`));
    await waitRunning("box-after-upgrade");
  });

  it("when helm uninstall, then the VMs keep running on their hypervisors; installed again, deleting them removes them", { timeout: 400_000 }, async () => {
    await helm(["uninstall", release, "--kubeconfig", node.kubeconfig, "-n", system, "--wait"]);
    await waitFor("no Omnivisor pods", async () => ((await pods(node.kubeconfig, system, "manager")).length + (await pods(node.kubeconfig, system, "status-watcher")).length === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await virshDomains(`${ns}.`)).get(`${ns}.kvm-1`)).toBe("running");
    const containers = await dockerContainers(`${ns}.`);
    for (const n of ["box-1", "box-after-crash", "box-after-kill", "box-after-handover", "box-after-upgrade"]) expect(containers.get(`${ns}.${n}`), n).toBe("running");
    expect(running(await vm("kvm-1")), "kvm-1 still there with its status").toBe(true);

    // The documented clean-up: install again (the managers pick the VMs up), delete them.
    await helmInstall("install", { kubeconfig: node.kubeconfig, release, namespace: system, tag, set: { "statusWatcher.socketGroups[0]": String(statSync(dockerSocket).gid) } });
    await kubectl(["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=120s"]);
    expect([...(await virshDomains(`${ns}.`)).keys()]).toEqual([]);
    expect([...(await dockerContainers(`${ns}.`)).keys()]).toEqual([]);
  });

  it("and nothing the pods sent tried to leave the machine (the node's egress drop counter)", async () => {
    expect(await node.egressDropped()).toBe(0);
  });
});
