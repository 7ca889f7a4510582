// Scenario: a status watcher per node. Three libvirt hosts, each a private libvirtd of its own
// (tests/harness/private-libvirtd.ts: own mount namespace, reached over TCP on loopback, libvirt's
// test driver so no guest burns CPU), each bound to its own node, each node with its own status
// watcher process; a fourth host bound to no node, followed by the controller manager itself.
//   then  every heartbeat Lease has exactly one holder: its node's watcher (the unbound host's:
//         the manager), the same one renewal after renewal;
//   when  a VM is destroyed behind the operator's back (virsh on that host)
//   then  its node's watcher reports it into the VM's status, and the operator starts it again;
//   when  one watcher is killed
//   then  only its host's heartbeat stops; the others keep being renewed.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { heartbeatLeaseName } from "../../src/fleet/heartbeat-lease.ts";
import { waitFor } from "../../src/local/wait.ts";
import { startSimulatedHost, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { allowWatcherCredentials, apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, startStatusWatcher, warnings, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `sw-${run}`;
const dc = `sw-${run}-dc`;
const labels = ["a", "b", "c"] as const;
const hostName = (l: string): string => `sw-${run}-${l}`;
const nodeName = (l: string): string => `sw-${run}-node-${l}`;
const unbound = `sw-${run}-d`;

interface Lease {
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

const daemons = new Map<string, PrivateLibvirtd & { tcpUri: string }>();
const watchers = new Map<string, Operator>();
let operator: Operator | undefined;

const logs = (): string => warnings(operator, ...watchers.values());

async function lease(host: string): Promise<Lease | undefined> {
  const out = await kubectl(admin, ["get", "leases.coordination.k8s.io", heartbeatLeaseName(host), "-n", ns, "-o", "json", "--ignore-not-found"]);
  return out.trim() ? (JSON.parse(out) as Lease) : undefined;
}

/** The VM state reports in a watcher's log (JSON lines "reported VM state"). */
function reports(watcher: Operator, name: string): { powerState?: string }[] {
  return watcher.output
    .join("")
    .split("\n")
    .filter((line) => line.includes("reported VM state"))
    .map((line) => JSON.parse(line) as { vm?: string; powerState?: string })
    .filter((r) => r.vm === `${ns}/${name}`);
}

const reportedStopped = (watcher: Operator, name: string): boolean => reports(watcher, name).some((r) => r.powerState === "Stopped");

const renewTime = (l: Lease | undefined): string => l?.spec?.renewTime ?? "";
const fresh = (l: Lease | undefined): boolean => Date.now() - Date.parse(renewTime(l)) < (l?.spec?.leaseDurationSeconds ?? 0) * 1000;

const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, ns);

const hostOf = (l: string, endpoint: string, node: string | undefined) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name: l, labels: scenarioLabel(ns) },
  spec: { datacenter: dc, driver: "libvirt", endpoint, ...(node ? { node } : {}) },
});

const vmOn = (host: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: `vm-${host.slice(-1)}`, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts: [host] } },
});

beforeAll(async () => {
  await requireLibvirt();
  for (const l of [...labels, "d"]) {
    daemons.set(l, await startSimulatedHost(`sw-${run}-${l}`));
  }
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } },
    ...labels.map((l) => hostOf(hostName(l), daemons.get(l)!.tcpUri, nodeName(l))),
    hostOf(unbound, daemons.get("d")!.tcpUri, undefined),
    ...[...labels.map(hostName), unbound].map(vmOn),
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
  await allowWatcherCredentials(admin, ns);
  for (const l of labels) watchers.set(l, startStatusWatcher(inject("statusWatcherKubeconfig"), nodeName(l), ns));
});

afterAll(async () => {
  await endScenario(admin, ns, `sw-${run}`, operator, ...watchers.values());
  for (const d of daemons.values()) await d.stop();
});

describe("a status watcher per node", () => {
  it("given three hosts bound to three nodes and one bound to none, then each heartbeat Lease has exactly one holder, renewal after renewal", async () => {
    for (const host of [...labels.map(hostName), unbound]) {
      const name = `vm-${host.slice(-1)}`;
      await waitFor(`${name} Running on ${host}`, async () => {
        const got = await vm(name);
        return got?.status?.host === host && condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: logs });
    }
    const holders = new Map<string, Set<string>>();
    const renewals = new Map<string, Set<string>>();
    // four looks, 2 s apart: a renewal every 2 s per watcher, so each lease is renewed meanwhile
    for (let look = 0; look < 4; look++) {
      for (const host of [...labels.map(hostName), unbound]) {
        const l = await waitFor(`heartbeat Lease of ${host}`, () => lease(host), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
        (holders.get(host) ?? holders.set(host, new Set()).get(host)!).add(l.spec?.holderIdentity ?? "");
        (renewals.get(host) ?? renewals.set(host, new Set()).get(host)!).add(l.spec?.renewTime ?? "");
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const watcherIdentity = (l: string): string => `${hostname()}_${watchers.get(l)!.child.pid}`;
    for (const l of labels) {
      expect([...holders.get(hostName(l))!], `holders of ${hostName(l)}'s heartbeat`).toEqual([watcherIdentity(l)]);
      expect(renewals.get(hostName(l))!.size, `renewals of ${hostName(l)}'s heartbeat`).toBeGreaterThan(1);
    }
    // the unbound host: the manager's own status watcher (its renewal interval is the default 5 s)
    expect([...holders.get(unbound)!]).toEqual([`${hostname()}_${operator!.child.pid}`]);
  });

  it("when a VM is destroyed with virsh on its host, then its node's watcher reports it and the operator starts it again", async () => {
    const target = daemons.get("b")!;
    const domain = `${ns}.vm-b`;
    await execute("virsh", ["-c", target.tcpUri, "destroy", domain]);
    // the watcher of node b wrote the report (its own log line and field manager), no one else's
    await waitFor("node b's watcher reporting vm-b Stopped", () => (reportedStopped(watchers.get("b")!, "vm-b") ? true : undefined), { timeoutMs: 30_000, intervalMs: 100, onTimeout: logs });
    for (const l of ["a", "c"]) expect(reports(watchers.get(l)!, "vm-b"), `reports of node ${l}'s watcher about vm-b`).toEqual([]);
    const after = await waitFor("vm-b Running again", async () => {
      const got = await vm("vm-b");
      return got?.status?.powerState === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    const { stdout } = await execute("virsh", ["-c", target.tcpUri, "domstate", domain]);
    expect(stdout.trim()).toBe("running");
    expect(after.status?.host).toBe(hostName("b"));
  });

  it("when one watcher is killed, then only its host's heartbeat stops", async () => {
    await watchers.get("c")!.kill();
    const killedAt = renewTime(await lease(hostName("c")));
    const others = new Map<string, string>();
    for (const l of ["a", "b"]) others.set(l, renewTime(await lease(hostName(l))));
    // the watchers renew every 2 s for 6 s: after 8 s the killed one's lease has lapsed
    await new Promise((r) => setTimeout(r, 8_000));
    const c = await lease(hostName("c"));
    expect(renewTime(c), "the killed watcher's host is renewed by no one").toBe(killedAt);
    expect(fresh(c), "the killed watcher's heartbeat has lapsed").toBe(false);
    for (const l of ["a", "b"]) {
      const now = await lease(hostName(l));
      expect(renewTime(now), `${hostName(l)} is still renewed`).not.toBe(others.get(l));
      expect(fresh(now), `${hostName(l)}'s heartbeat is fresh`).toBe(true);
    }
  });
});
