// Scenario: a fleet like `make run`'s — a real libvirtd with a QEMU guest and a real dockerd with
// two containers, in a datacenter and a pool — left idle writes nothing to omnivisor.io objects,
// while the hosts' live usage keeps moving in the metrics (ADR 0037).
//   given  the fleet converged (every VM Running) and settled
//   when   nothing changes for a window (OMNIVISOR_IDLE_WINDOW_S, default 60 s)
//   then   the API server's own counters (apiserver_request_total, by group and verb) show 0
//          writes to omnivisor.io, and the usage gauges were refreshed (their values moved);
//          each host's VMs' own usage (observeVmUsage, ADR 0044) is summed in its gauges.
// Own control plane (the shared one counts every other test's writes) and private daemons (the
// shared ones see other sessions' VMs come and go: a real world change, and a write).
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { requestCounts, writesBetween, writesTo } from "../../src/local/api-requests.ts";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { idleVmImage, requireDocker, requireLibvirt } from "../harness/services.ts";
import { apply, condition, getObject, kubectl, operatorMetrics, startOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";

const run = randomBytes(3).toString("hex");
const ns = `iw-${run}`;
const [kvm, docker] = [`iw-${run}-libvirt`, `iw-${run}-docker`];
const diskDir = `/tmp/omni-iw-${run}`;
const windowSeconds = Number(process.env["OMNIVISOR_IDLE_WINDOW_S"] ?? 60);
let cp: ControlPlane | undefined;
let libvirtd: PrivateLibvirtd | undefined;
let dockerd: PrivateDockerd | undefined;
let operator: Operator | undefined;
const logs = (): string => warnings(operator);
const admin = (): string => cp!.kubeconfigs.admin;

const vm = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VirtualMachine", metadata: { name, namespace: ns }, spec: { cpus: 1, powerOff: { mode: "Hard", timeoutSeconds: 5 }, ...spec } });

/** omnivisor_host_cpu_usage_ratio and omnivisor_host_memory_used_bytes series of the operator. */
async function usageSeries(): Promise<Map<string, number>> {
  const lines = (await operatorMetrics(operator!)).split("\n").filter((l) => /^omnivisor_host_(cpu_usage_ratio|memory_used_bytes)\{/.test(l));
  return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));
}

/** omnivisor_host_vms_* (the VMs' own usage, summed per host) of the operator, by series. */
async function vmSums(): Promise<Map<string, number>> {
  const lines = (await operatorMetrics(operator!)).split("\n").filter((l) => /^omnivisor_host_vms_(cpu_usage_cores|memory_used_bytes)\{/.test(l));
  return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));
}

beforeAll(async () => {
  const { virtType } = await requireLibvirt();
  await requireDocker();
  cp = await ControlPlane.start({ controllerManager: false });
  await mkdir(diskDir, { recursive: true });
  const port = await freePort();
  libvirtd = await startPrivateLibvirtd(`iw-${run}`, { tcp: { address: "127.0.0.1", port }, pools: [{ name: "idle", path: diskDir }] });
  const endpoint = `qemu+tcp://127.0.0.1:${port}/system`;
  const session = (await new LibvirtDriver().connect({ endpoint, libvirt: { storagePool: "idle" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await session.uploadImage("idle-vm", await imageUpload(idleVmImage()));
  } finally {
    await session.close();
  }
  dockerd = await PrivateDockerd.start();
  await kubectl(admin(), ["create", "namespace", ns]);
  await apply(
    admin(),
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: `iw-${run}` }, spec: { imageStore: { location: "libvirt storage pools, docker images" }, images: [{ name: "idle", sources: { libvirt: "idle-vm", docker: "busybox:local" } }] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: `iw-${run}` }, spec: { datacenter: `iw-${run}`, hosts: [kvm, docker] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: kvm, annotations: { "libvirt.omnivisor.io/storage-pool": "idle", "libvirt.omnivisor.io/virt-type": virtType } }, spec: { datacenter: `iw-${run}`, pool: `iw-${run}`, driver: "libvirt", endpoint, cpuOvercommit: 4 } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: docker }, spec: { datacenter: `iw-${run}`, pool: `iw-${run}`, driver: "docker", endpoint: dockerd.endpoint, cpuOvercommit: 4 } },
    vm("guest", { memory: "64Mi", disks: [{ name: "root", image: "idle", size: "1Gi" }], networks: [], placement: { driver: "libvirt" } }),
    vm("box-1", { memory: "32Mi", disks: [{ name: "root", image: "idle" }], placement: { driver: "docker" } }),
    vm("box-2", { memory: "32Mi", disks: [{ name: "root", image: "idle" }], placement: { driver: "docker" } }),
  );
  operator = startOperator(cp.kubeconfigs.operator, ns);
}, 240_000);

afterAll(async () => {
  if (cp) await kubectl(admin(), ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await operator?.stop();
  await dockerd?.stop();
  await libvirtd?.stop();
  await cp?.stop();
  await rm(diskDir, { recursive: true, force: true });
}, 180_000);

describe("an idle fleet", () => {
  it(`writes nothing to omnivisor.io objects over ${windowSeconds} s, while the usage metrics move`, async () => {
    for (const name of ["guest", "box-1", "box-2"]) {
      await waitFor(`${name} Running`, async () => (condition(await getObject(admin(), "virtualmachines.omnivisor.io", name, ns), "Ready")?.reason === "Running" ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
    }
    // settled: the pool and datacenter have counted the hosts' last writes, the hosts were observed again
    await waitFor("pool and datacenter count 3 VMs", async () => {
      const pool = await getObject(admin(), "hostpools.omnivisor.io", `iw-${run}`);
      const dc = await getObject(admin(), "datacenters.omnivisor.io", `iw-${run}`);
      return pool?.status?.["virtualMachines"] === 3 && dc?.status?.["virtualMachines"] === 3 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, onTimeout: logs });
    await new Promise((r) => setTimeout(r, 20_000));

    const metrics = async (): Promise<string> => kubectl(admin(), ["get", "--raw", "/metrics"]);
    const usageBefore = await usageSeries();
    const before = requestCounts(await metrics());
    await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    const writes = writesBetween(before, requestCounts(await metrics()));
    const usageAfter = await usageSeries();

    const omnivisor = Object.fromEntries(Object.entries(writes).filter(([k]) => k.startsWith("omnivisor.io ")));
    console.log(`idle ${windowSeconds} s: ${writesTo("omnivisor.io", writes)} writes to omnivisor.io; all writes: ${JSON.stringify(writes)}`);
    expect(omnivisor, "writes to omnivisor.io objects while idle").toEqual({});
    // both hosts report usage, and it was refreshed meanwhile
    for (const host of [kvm, docker]) expect([...usageAfter.keys()].filter((k) => k.includes(`host="${host}"`)), host).toHaveLength(2);
    expect([...usageAfter].some(([k, v]) => usageBefore.get(k) !== v), `usage moved: ${JSON.stringify([...usageBefore])} → ${JSON.stringify([...usageAfter])}`).toBe(true);
    // each host's VMs' own usage: the QEMU guest and the two containers use memory; CPUs counted
    const sums = await vmSums();
    const sum = (metric: string, host: string): number | undefined => [...sums].find(([k]) => k.startsWith(`${metric}{`) && k.includes(`host="${host}"`))?.[1];
    for (const h of [kvm, docker]) {
      expect(sum("omnivisor_host_vms_memory_used_bytes", h), `${h}'s VMs' memory: ${JSON.stringify([...sums])}`).toBeGreaterThan(0);
      expect(sum("omnivisor_host_vms_cpu_usage_cores", h), `${h}'s VMs' CPUs: ${JSON.stringify([...sums])}`).toBeGreaterThanOrEqual(0);
    }
    console.log(`VM usage sums: ${JSON.stringify([...sums])}`);
    // and status carries none of it
    const host = await getObject(admin(), "hosts.omnivisor.io", docker);
    expect(host?.status).not.toHaveProperty("usage");
  }, 600_000);
});
