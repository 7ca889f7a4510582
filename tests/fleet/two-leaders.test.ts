// Scenario: two managers that both believe they lead (leader election off in both, as a split
// brain between replicas would leave them for a moment) over the same VMs. Each VM's placement
// is written exclusively — the version read is the precondition of the marker's write — so the
// second writer gets a conflict and follows the first: every VM exists on exactly one host.
// Two private libvirtds (libvirt's test driver, over TCP) are the two hosts, so a VM placed on
// both would be two domains.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { virtualMachinesType, type VmObject } from "../../src/fleet/kinds.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import { waitFor } from "../../src/local/wait.ts";
import { ensureFinalizer } from "../../src/runtime/finalizers.ts";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { statusCode } from "../../src/runtime/log.ts";
import { ResourceClient } from "../../src/runtime/resource.ts";
import { startSimulatedHost, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { apply, condition, kubectl, removeClusterObjects, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `tl-${run}`;
const dc = `tl-${run}-dc`;
const hosts = [`tl-${run}-a`, `tl-${run}-b`];
const count = 20;
const daemons: (PrivateLibvirtd & { tcpUri: string })[] = [];
const operators: Operator[] = [];

const logs = (): string => warnings(...operators);
const vmOf = (name: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts, policy: "Performance" } },
});

/** true once the manager's /readyz answers 200 (its port is in its log). */
async function ready(operator: Operator): Promise<true | undefined> {
  const line = operator.output.join("").split("\n").find((l) => l.includes("serving /metrics"));
  const port = line ? (JSON.parse(line) as { port?: number }).port : undefined;
  if (port === undefined) return undefined;
  const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
  return res?.status === 200 ? true : undefined;
}

async function domains(daemon: { tcpUri: string }): Promise<string[]> {
  const { stdout } = await execute("virsh", ["-c", daemon.tcpUri, "list", "--all", "--name"]);
  return stdout.split("\n").map((s) => s.trim()).filter((n) => n.startsWith(`${ns}.`));
}

beforeAll(async () => {
  await requireLibvirt();
  for (const h of hosts) {
    daemons.push(await startSimulatedHost(h));
  }
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } },
    ...hosts.map((h, i) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: h, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "libvirt", endpoint: daemons[i]!.tcpUri, cpuOvercommit: 32 } })),
  );
});

afterAll(async () => {
  await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  for (const o of operators) await o.stop();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  await removeClusterObjects(admin, `tl-${run}`);
  for (const d of daemons) await d.stop();
});

describe("two managers that both believe they lead", () => {
  it("given the same VM read by two writers, then only the first placement marker is written; the second gets a conflict", async () => {
    await apply(admin, vmOf("probe"));
    const client = new ResourceClient<VmObject>(loadKubeConfig(admin), virtualMachinesType);
    const read = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "probe", "-n", ns, "-o", "json"])) as VmObject;
    expect(await ensureFinalizer(client, read, vmFinalizer, { [placedOnAnnotation]: hosts[0]! }, { exclusive: true })).toBe(true);
    const second = await ensureFinalizer(client, read, vmFinalizer, { [placedOnAnnotation]: hosts[1]! }, { exclusive: true }).catch((err: unknown) => err);
    expect(statusCode(second), "the second writer's answer").toBe(409);
    const now = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "probe", "-n", ns, "-o", "json"])) as VmObject;
    expect(now.metadata.annotations?.[placedOnAnnotation]).toBe(hosts[0]);
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "probe", "-n", ns, "--wait=false"]);
    await kubectl(admin, ["patch", "virtualmachines.omnivisor.io", "probe", "-n", ns, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}']).catch(() => undefined);
  });

  it(`given two managers both reconciling, when ${count} VMs are applied at once, then each runs on exactly one host`, async () => {
    // The first manager places one VM alone, so the two no longer break ties alike (placement
    // takes turns among equal hosts): left to themselves they would choose differently.
    operators.push(startScopedOperator(operatorKubeconfig, ns, ["--no-status-watcher"]));
    await apply(admin, vmOf("first"));
    await waitFor("the first VM Running", async () => {
      const got = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "first", "-n", ns, "-o", "json"])) as Obj;
      return condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    operators.push(startScopedOperator(operatorKubeconfig, ns, ["--no-status-watcher"]));
    await waitFor("the second manager ready (its caches synced)", () => ready(operators[1]!), { timeoutMs: 30_000, intervalMs: 200, onTimeout: logs });
    await apply(admin, ...Array.from({ length: count }, (_, i) => vmOf(`vm-${i}`)));
    const vms = await waitFor(`${count} VMs Running`, async () => {
      const list = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-o", "json"])) as { items: Obj[] };
      const ready = list.items.filter((o) => o.metadata.name.startsWith("vm-") && o.status?.phase === "Running" && condition(o, "Ready")?.status === "True");
      return ready.length === count ? ready : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
    // both managers had their say: give a late second create the time to land, then count
    await new Promise((r) => setTimeout(r, 3_000));
    const onHost = await Promise.all(daemons.map((d) => domains(d)));
    for (const vm of vms) {
      const where = hosts.filter((_, i) => onHost[i]!.includes(`${ns}.${vm.metadata.name}`));
      expect(where, `hosts running ${vm.metadata.name}`).toEqual([vm.status?.host]);
    }
    expect(onHost.flat().filter((n) => n.startsWith(`${ns}.vm-`)).length, "domains across both hosts").toBe(count);
  });
});
