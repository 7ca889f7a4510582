// Scenario: the operator (a real manager process) turns Host, Datacenter, HostPool and
// VirtualMachine manifests into VMs on the real libvirtd (QEMU, TCG: /dev/kvm here cannot boot a
// guest, ADR 0003) and containers on the real dockerd; drives power state from spec; deletes
// them from the hypervisors; reports a bad endpoint or bad credentials on the Host without
// leaking the Secret; and, killed -9 in the middle of creating, creates nothing twice.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { virtualMachinesType, type VmObject } from "../../src/fleet/kinds.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import { ensureFinalizer } from "../../src/runtime/finalizers.ts";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { ResourceClient } from "../../src/runtime/resource.ts";
import { driverSpec } from "../../src/fleet/driver-spec.ts";
import { vmIdentity } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { waitFor } from "../../src/local/wait.ts";
import { dockerSocket, requireDocker, requireLibvirt, libvirtUri } from "../harness/services.ts";
import { Virsh } from "../drivers/libvirt-virsh.ts";
import { allowWatcherCredentials, apply, condition, dockerContainers, getObject, kubectl, operatorMetrics, removeLeftovers, scenarioLabel, startOperator, startScopedOperator, startStatusWatcher, virshDomains, type Obj, type Operator } from "./fixtures.ts";

const execFileP = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `lc-${run}`;
const prefix = `${ns}.`; // hypervisor names are <namespace>.<name>
const diskDir = join(tmpdir(), `omni-lc-${run}`);
const dc = `lc-${run}-dc`;
const kvm = `lc-${run}-kvm`;
const docker = `lc-${run}-docker`;
const node = `lc-${run}-node`; // the node both hosts are bound to: its status watcher follows them
const secretValue = `lc-secret-${randomBytes(8).toString("hex")}`;

const host = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name, annotations, labels: scenarioLabel(ns) },
  spec: { datacenter: dc, node, ...spec },
});

const libvirtVm = (name: string, powerState = "Running", cpus = 1) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns, labels: { scenario: "lifecycle" } },
  spec: {
    powerState,
    powerOff: { mode: "Hard", timeoutSeconds: 10 },
    cpus,
    memory: "128Mi",
    disks: [{ name: "root", image: "tiny-vm" }],
    networks: [],
    placement: { hosts: [kvm] },
  },
});

const container = (name: string, powerState = "Running", placement: Record<string, unknown> = { driver: "docker", hosts: [docker] }) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { powerState, cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 10 }, disks: [{ name: "root", image: "busybox:local" }], placement },
});

/** resourceVersions of this scenario's VMs: any write by anyone changes one. */
async function versions(): Promise<Record<string, string>> {
  const list = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-o", "json"])) as { items: { metadata: { name: string; resourceVersion: string } }[] };
  return Object.fromEntries(list.items.map((o) => [o.metadata.name, o.metadata.resourceVersion]));
}

const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, ns);

async function running(name: string): Promise<Obj> {
  return waitFor(`${name} Running`, async () => {
    const got = await vm(name);
    return got?.status?.phase === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
  }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: () => operatorOutput() });
}

let operator: Operator | undefined;
let watcher: Operator | undefined;
const virsh = new Virsh(libvirtUri);
const operatorOutput = (): string => [...(operator?.output ?? []), ...(watcher?.output ?? [])].join("").split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15).join("\n");

beforeAll(async () => {
  await requireLibvirt();
  await requireDocker();
  await mkdir(diskDir, { recursive: true });
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: omnivisorImageStore() } } },
    // overcommitted: this machine has 2 CPUs, and placement counts what VMs are given, not what they use
    host(kvm, { driver: "libvirt", endpoint: libvirtUri, cpuOvercommit: 4, adoption: { namespaces: [ns] } }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
    host(docker, { driver: "docker", endpoint: `unix://${dockerSocket}`, cpuOvercommit: 8 }),
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: `lc-${run}-pool` }, spec: { datacenter: dc, hosts: [kvm, docker] } },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
  await allowWatcherCredentials(admin, ns);
  watcher = startStatusWatcher(inject("statusWatcherKubeconfig"), node, ns);
});

afterAll(async () => {
  await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await operator?.stop();
  await watcher?.stop();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  for (const kind of ["hostpools", "hosts", "datacenters"]) {
    const names = (await kubectl(admin, ["get", `${kind}.omnivisor.io`, "-o", "name"])).split("\n").filter((n) => n.includes(`lc-${run}`));
    if (names.length > 0) await kubectl(admin, ["delete", ...names, "--wait=false"]).catch(() => undefined);
  }
  await removeLeftovers(prefix);
  await rm(diskDir, { recursive: true, force: true });
});

describe("VM lifecycle on libvirt and Docker hosts", () => {
  it("given hosts for the local libvirtd and dockerd, then they are Reachable with capacity, and the pool and datacenter add them up", async () => {
    for (const name of [kvm, docker]) {
      const h = await waitFor(`${name} Ready`, async () => {
        const got = await getObject(admin, "hosts.omnivisor.io", name);
        return condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => operatorOutput() });
      expect(condition(h, "Reachable")).toMatchObject({ status: "True", reason: "Connected" });
      expect(condition(h, "Maintenance")).toMatchObject({ status: "False" });
      expect(h.status?.phase).toBe("Ready");
      expect((h.status?.capacity as { cpus: number }).cpus).toBeGreaterThan(0);
      expect(h.status?.allocatable).toBeDefined();
      expect((h.status?.hypervisor as { version: string }).version).toBeTruthy();
    }
    const pool = await waitFor("pool sums both hosts", async () => {
      const got = await getObject(admin, "hostpools.omnivisor.io", `lc-${run}-pool`);
      return got?.status?.["readyHosts"] === 2 ? got : undefined;
    });
    expect(pool.status?.["hosts"]).toBe(2);
    // live usage is in the metrics, labelled with host, pool and datacenter — not in status (ADR 0037)
    const usage = await waitFor("the hosts' live usage in the operator's metrics", async () => {
      const lines = (await operatorMetrics(operator!)).split("\n").filter((l) => l.startsWith("omnivisor_host_cpu_usage_ratio{") && l.includes(`pool="lc-${run}-pool"`));
      return lines.length === 2 ? lines : undefined;
    });
    for (const name of [kvm, docker]) expect(usage.find((l) => l.includes(`host="${name}"`) && l.includes(`datacenter="${dc}"`)), name).toMatch(/ (0(\.\d+)?|1)$/);
    expect(pool.status).not.toHaveProperty("usage");
    const datacenter = await waitFor("datacenter counts both hosts", async () => {
      const got = await getObject(admin, "datacenters.omnivisor.io", dc);
      return got?.status?.["readyHosts"] === 2 ? got : undefined;
    });
    expect(datacenter.status?.["pools"]).toBe(1);
    expect(datacenter.status?.["capacity"]).toMatchObject({ cpus: expect.any(Number) as number });
  });

  it("given 10 VMs for both hosts, then each runs on the right hypervisor, stop / start / pause / resize follow spec, and delete removes them", async () => {
    const kvmVms = ["vm-a", "vm-b", "vm-c", "vm-d"];
    const containers = ["ct-a", "ct-b", "ct-c", "ct-d", "ct-e", "ct-f"];
    await apply(admin, ...kvmVms.map((n) => libvirtVm(n)), ...containers.map((n) => container(n)));
    for (const name of kvmVms) {
      const got = await running(name);
      expect(got.status).toMatchObject({ host: kvm, driver: "libvirt", powerState: "Running" });
      expect(condition(got, "Scheduled")).toMatchObject({ status: "True", reason: "Placed" });
      expect(condition(got, "Created")).toMatchObject({ status: "True" });
      expect(got.metadata.finalizers).toContain("omnivisor.io/virtual-machine");
    }
    for (const name of containers) expect((await running(name)).status).toMatchObject({ host: docker, driver: "docker" });
    expect(await virshDomains(prefix)).toEqual(new Map(kvmVms.map((n) => [`${ns}.${n}`, "running"])));
    expect(await dockerContainers(prefix)).toEqual(new Map(containers.map((n) => [`${ns}.${n}`, "running"])));
    const kvmHost = await waitFor("kvm host counts its VMs", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", kvm);
      return (h?.status?.["allocated"] as { cpus?: number } | undefined)?.cpus === 4 ? h : undefined;
    });
    expect(kvmHost.status?.["allocated"]).toMatchObject({ cpus: 4, memory: "512Mi" });
    // every step is an Event on the VM
    const events = JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=vm-a", "-o", "json"])) as { items: { reason: string }[] };
    expect(new Set(events.items.map((e) => e.reason))).toEqual(new Set(["Scheduled", "Created"]));

    // GitOps: the applied manifests show no drift, and converged VMs cause no writes at all
    // (observed for longer than the operator's 15 s re-observation period). Hosts may change only
    // in their live usage (the guests' CPU load moves; see usageMoved), nothing else.
    const manifests = [...kvmVms.map((n) => libvirtVm(n)), ...containers.map((n) => container(n))].map((m) => stringify(m)).join("---\n");
    expect(await kubectl(admin, ["diff", "-f", "-"], manifests)).toBe("");
    // The libvirtd and dockerd are shared with scenarios running at the same time, so what the
    // hosts count on the hypervisor (VMs, unmanaged VMs, orphans — VMs of another control plane
    // sharing the hypervisor —, the Ready message that quotes them) may move; what this scenario's
    // VMs put on them may not.
    const hostsOwnFigures = async () =>
      Promise.all([kvm, docker].map(async (h) => {
        const status = (await getObject(admin, "hosts.omnivisor.io", h))?.status;
        return { ...status, usage: undefined, virtualMachines: undefined, unmanagedVms: undefined, orphanedVms: undefined, conditions: status?.conditions?.map(({ type, status: s, reason }) => ({ type, status: s, reason })) };
      }));
    const [vmsBefore, hostsBefore] = [await versions(), await hostsOwnFigures()];
    await new Promise((r) => setTimeout(r, 20_000));
    expect(await versions()).toEqual(vmsBefore);
    expect(await hostsOwnFigures()).toEqual(hostsBefore);

    // when ct-a's spec says Paused, then the container is paused, and Running resumes it
    await apply(admin, container("ct-a", "Paused"));
    await waitFor("ct-a Paused", async () => ((await vm("ct-a"))?.status?.phase === "Paused" ? true : undefined), { timeoutMs: 30_000, intervalMs: 300 });
    expect((await dockerContainers(prefix)).get(`${ns}.ct-a`)).toBe("paused");
    await apply(admin, container("ct-a"));
    await running("ct-a");
    expect((await dockerContainers(prefix)).get(`${ns}.ct-a`)).toBe("running");

    // when ct-b asks for more memory while running, then Docker resizes it in place (same
    // container, still running, no RestartRequired)
    const ctId = async () => (await execFileP("docker", ["-H", `unix://${dockerSocket}`, "inspect", "-f", "{{.Id}} {{.HostConfig.Memory}} {{.State.StartedAt}}", `${ns}.ct-b`])).stdout.trim().split(" ");
    const [idBefore, , startedBefore] = await ctId();
    await apply(admin, { ...container("ct-b"), spec: { ...container("ct-b").spec, memory: "64Mi" } });
    const resized = await waitFor("ct-b resized in place", async () => {
      const [id, memory, started] = await ctId();
      return memory === String(64 * 1024 * 1024) ? { id, started } : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    expect(resized).toEqual({ id: idBefore, started: startedBefore });
    const ctB = await running("ct-b");
    expect(condition(ctB, "RestartRequired")).toBeUndefined();

    // when vm-a asks for 2 CPUs while running, then libvirt (no live resize) leaves it running
    // with RestartRequired=True, and the new size applies while it is stopped
    const domid = await virsh.exec("domid", `${ns}.vm-a`);
    await apply(admin, libvirtVm("vm-a", "Running", 2));
    const pending = await waitFor("vm-a RestartRequired", async () => {
      const got = await vm("vm-a");
      return condition(got, "RestartRequired")?.status === "True" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    expect(condition(pending, "RestartRequired")).toMatchObject({ reason: "ResizeNeedsRestart", message: expect.stringContaining("1 CPUs / 128 MiB → 2 CPUs / 128 MiB") as string });
    expect(await virsh.exec("domid", `${ns}.vm-a`)).toBe(domid);

    // when vm-a's spec says Stopped, then the domain is shut off, resized, and the status says so
    await apply(admin, libvirtVm("vm-a", "Stopped", 2));
    const stopped = await waitFor("vm-a Stopped and resized", async () => {
      const got = await vm("vm-a");
      return got?.status?.phase === "Stopped" && condition(got, "Ready")?.status === "True" && !condition(got, "RestartRequired") ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300 });
    expect(stopped.status?.powerState).toBe("Stopped");
    expect((await virshDomains(prefix)).get(`${ns}.vm-a`)).toBe("shut off");
    expect(await virsh.exec("dominfo", `${ns}.vm-a`)).toMatch(/CPU\(s\):\s+2\n/);
    // and Running again starts it, with its new size
    await apply(admin, libvirtVm("vm-a", "Running", 2));
    await running("vm-a");
    expect((await virshDomains(prefix)).get(`${ns}.vm-a`)).toBe("running");
    expect(await virsh.exec("dominfo", `${ns}.vm-a`)).toMatch(/CPU\(s\):\s+2\n/); // the running guest has 2
    const reasons = (JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=vm-a", "-o", "json"])) as { items: { reason: string }[] }).items.map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(["Stopping", "Resized", "Starting"]));

    // when deleted, then they leave the hypervisors before the objects go
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...kvmVms, ...containers, "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await virshDomains(prefix)).toEqual(new Map());
    expect(await dockerContainers(prefix)).toEqual(new Map());
  });

  it("given a VM that fits nowhere, then it stays Pending with Scheduled=False saying why", async () => {
    const huge = { ...container("too-big"), spec: { ...container("too-big").spec, memory: "64Ti" } };
    await apply(admin, huge);
    const got = await waitFor("too-big Pending", async () => {
      const v = await vm("too-big");
      return condition(v, "Scheduled")?.status === "False" ? v : undefined;
    });
    expect(got.status?.phase).toBe("Pending");
    expect(condition(got, "Scheduled")?.message).toMatch(/not enough memory/);
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "too-big", "-n", ns, "--wait=true", "--timeout=30s"]);
  });

  it("given Hosts with a wrong endpoint or unreadable credentials, then Reachable=False says which, and no secret shows", async () => {
    await kubectl(admin, ["create", "secret", "generic", `lc-${run}-creds`, "-n", ns, `--from-literal=password=${secretValue}`, "--from-literal=username=root"]);
    await apply(
      admin,
      host(`lc-${run}-bad-endpoint`, { driver: "libvirt", endpoint: "qemu+tcp://127.0.0.1:1/system", credentialsSecretRef: { name: `lc-${run}-creds`, namespace: ns } }),
      host(`lc-${run}-no-secret`, { driver: "docker", endpoint: `unix://${dockerSocket}`, credentialsSecretRef: { name: `lc-${run}-missing`, namespace: ns } }),
      // a Secret in a namespace the operator does not take credentials from (a tenant's): never read
      host(`lc-${run}-elsewhere`, { driver: "docker", endpoint: `unix://${dockerSocket}`, credentialsSecretRef: { name: `lc-${run}-creds`, namespace: "default" } }),
    );
    await kubectl(admin, ["create", "secret", "generic", `lc-${run}-creds`, "-n", "default", `--from-literal=token=${secretValue}`]);
    const bad = await waitFor("bad endpoint reported", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", `lc-${run}-bad-endpoint`);
      return condition(h, "Reachable")?.status === "False" ? h : undefined;
    });
    expect(condition(bad, "Reachable")).toMatchObject({ reason: "Unreachable", message: expect.stringContaining("qemu+tcp://127.0.0.1:1/system") as string });
    const missing = await waitFor("missing secret reported", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", `lc-${run}-no-secret`);
      return condition(h, "Reachable")?.status === "False" ? h : undefined;
    });
    expect(condition(missing, "Reachable")).toMatchObject({ reason: "CredentialsUnavailable", message: expect.stringContaining(`lc-${run}-missing not found`) as string });
    const elsewhere = await waitFor("the Secret in another namespace refused", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", `lc-${run}-elsewhere`);
      return condition(h, "Reachable")?.status === "False" ? h : undefined;
    });
    expect(condition(elsewhere, "Reachable")).toMatchObject({ reason: "CredentialsUnavailable", message: expect.stringContaining(`reads Host credentials only from ${ns} (--credentials-namespaces)`) as string });
    await kubectl(admin, ["delete", "hosts.omnivisor.io", `lc-${run}-elsewhere`, "--wait=true", "--timeout=30s"]);
    await kubectl(admin, ["delete", "secret", `lc-${run}-creds`, "-n", "default"]);

    // when the Secret appears, then the host recovers on its own
    await kubectl(admin, ["create", "secret", "generic", `lc-${run}-missing`, "-n", ns, `--from-literal=token=${secretValue}`]);
    await waitFor("no-secret host recovers", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", `lc-${run}-no-secret`);
      return condition(h, "Reachable")?.status === "True" ? h : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });

    // when the endpoint is corrected, then that host recovers on its own too
    await kubectl(admin, ["patch", "hosts.omnivisor.io", `lc-${run}-bad-endpoint`, "--type=merge", "-p", JSON.stringify({ spec: { endpoint: libvirtUri, credentialsSecretRef: null } })]);
    const fixed = await waitFor("bad-endpoint host recovers", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", `lc-${run}-bad-endpoint`);
      return condition(h, "Reachable")?.status === "True" ? h : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    expect(condition(fixed, "Ready")).toMatchObject({ status: "True" });
    await kubectl(admin, ["delete", "hosts.omnivisor.io", `lc-${run}-bad-endpoint`, `lc-${run}-no-secret`, "--wait=true", "--timeout=30s"]);

    const everything = [
      JSON.stringify(bad),
      await kubectl(admin, ["get", "events", "-A", "-o", "json"]),
      operator?.output.join("") ?? "",
    ].join("\n");
    expect(everything).not.toContain(secretValue);
  });

  it("given the operator is killed -9 while creating, when it restarts, then each VM exists exactly once", async () => {
    const domains = ["crash-a", "crash-b", "crash-c"];
    const containers = ["crash-d", "crash-e", "crash-f", "crash-g", "crash-h", "crash-i", "crash-j"];
    const all = [...domains, ...containers];
    await apply(admin, ...domains.map((n) => libvirtVm(n)), ...containers.map((n) => container(n)));
    // kill once the first of them exists on a hypervisor: some are made, some are being made
    // (create-pending marker written, driver call under way), some are not placed yet
    await waitFor("first VM on a hypervisor", async () => ((await dockerContainers(prefix)).size + (await virshDomains(prefix)).size > 0 ? true : undefined), { intervalMs: 10 });
    await operator!.kill();
    const placedAtKill = (await Promise.all(all.map((n) => vm(n)))).filter((v) => v?.status?.host).length;
    console.log(`kill -9 with ${placedAtKill} of 10 VMs placed; ${(await virshDomains(prefix)).size} domains and ${(await dockerContainers(prefix)).size} containers existed`);
    operator = startScopedOperator(operatorKubeconfig, ns);
    for (const name of all) await running(name);
    expect([...(await virshDomains(prefix)).keys()].sort()).toEqual(domains.map((n) => `${ns}.${n}`));
    expect([...(await dockerContainers(prefix)).keys()].sort()).toEqual(containers.map((n) => `${ns}.${n}`));
    // exactly once, also by the identity the operator gave them (no renamed or half-made copies)
    const ids = await Promise.all(all.map(async (n) => (await vm(n))?.status?.externalId));
    expect(new Set(ids).size).toBe(10);
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...all, "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await virshDomains(prefix)).toEqual(new Map());
    expect(await dockerContainers(prefix)).toEqual(new Map());
  });

  it("given two hosts, then Performance spreads VMs across them and Progressive fills one host first", async () => {
    const [a, b] = [`lc-${run}-dka`, `lc-${run}-dkb`];
    // two Host objects for the one local dockerd, 2 CPUs each to hand out (no overcommit)
    await apply(admin, host(a, { driver: "docker", endpoint: `unix://${dockerSocket}`, reserved: { cpus: 0 } }), host(b, { driver: "docker", endpoint: `unix://${dockerSocket}` }));
    for (const name of [a, b]) {
      await waitFor(`${name} Ready`, async () => (condition(await getObject(admin, "hosts.omnivisor.io", name), "Ready")?.status === "True" ? true : undefined));
    }
    const hostsOf = async (names: string[]): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const n of names) {
        const h = (await running(n)).status?.host ?? "none";
        counts[h] = (counts[h] ?? 0) + 1;
      }
      return counts;
    };
    const spread = ["spread-1", "spread-2", "spread-3", "spread-4"];
    await apply(admin, ...spread.map((n) => container(n, "Running", { hosts: [a, b], policy: "Performance" })));
    expect(await hostsOf(spread)).toEqual({ [a]: 2, [b]: 2 });
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...spread, "-n", ns, "--wait=true", "--timeout=60s"]);

    const packed = ["pack-1", "pack-2", "pack-3"];
    await apply(admin, ...packed.map((n) => container(n, "Running", { hosts: [a, b], policy: "Progressive" })));
    const cpus = ((await getObject(admin, "hosts.omnivisor.io", a))?.status?.["allocatable"] as { cpus: number }).cpus;
    const onA = Math.min(cpus, packed.length);
    expect(await hostsOf(packed)).toEqual(onA === packed.length ? { [a]: 3 } : { [a]: onA, [b]: packed.length - onA });
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...packed, "-n", ns, "--wait=true", "--timeout=60s"]);

    // when a host is in maintenance, then it takes no new VMs, and says so
    await kubectl(admin, ["patch", "hosts.omnivisor.io", a, "--type=merge", "-p", '{"spec":{"maintenance":true}}']);
    const inMaintenance = await waitFor(`${a} in maintenance`, async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", a);
      return condition(h, "Maintenance")?.status === "True" ? h : undefined;
    });
    expect(inMaintenance.status?.phase, "no VM on it: in maintenance at once").toBe("InMaintenance");
    const later = ["later-1", "later-2"];
    await apply(admin, ...later.map((n) => container(n, "Running", { hosts: [a, b], policy: "Progressive" })));
    expect(await hostsOf(later)).toEqual({ [b]: 2 });
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...later, "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await dockerContainers(prefix)).toEqual(new Map());
  });

  it("given a VM created on the host of its placement marker but not yet in status (the operator died in between), when the operator is back, then it is found there: not placed elsewhere, not created twice", async () => {
    const [a, b] = [`lc-${run}-dka`, `lc-${run}-dkb`];
    await kubectl(admin, ["patch", "hosts.omnivisor.io", a, "--type=merge", "-p", '{"spec":{"maintenance":false}}']);
    await operator!.kill();
    // Progressive would fill host a first: the marker says b
    await apply(admin, container("marked", "Running", { hosts: [a, b], policy: "Progressive" }));
    const object = (await vm("marked"))!;
    const uid = object.metadata.uid;
    // what the operator writes before a create (ADR 0014): its finalizer and the marker, in one
    // apply — through the operator's own code, as its field manager
    const client = new ResourceClient<VmObject>(loadKubeConfig(operatorKubeconfig), virtualMachinesType);
    expect(await ensureFinalizer(client, object as unknown as VmObject, vmFinalizer, { [placedOnAnnotation]: b })).toBe(true);
    // ... and the create it made before dying
    const session = await new DockerDriver().connect({ endpoint: `unix://${dockerSocket}` }, undefined, AbortSignal.timeout(10_000));
    const made = await session.createVm(vmIdentity({ uid, namespace: ns, name: "marked" }), driverSpec(object as unknown as VmObject, "docker"));
    await session.close();

    operator = startScopedOperator(operatorKubeconfig, ns);
    const found = await running("marked");
    expect(found.status?.host).toBe(b);
    expect(found.status?.externalId).toBe(made.externalId);
    expect(condition(found, "Created")).toMatchObject({ status: "True", reason: "Found" });
    expect([...(await dockerContainers(prefix)).keys()]).toEqual([`${ns}.marked`]);
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "marked", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await dockerContainers(prefix)).toEqual(new Map());
  });

  it("given a running VM, when someone destroys it with virsh, then its status shows it at once (status watcher) and the operator starts it again", async () => {
    await apply(admin, libvirtVm("outside"));
    await running("outside");
    const domain = `${ns}.outside`;
    const before = await virsh.exec("domid", domain);
    const destroyedAt = performance.now();
    await virsh.exec("destroy", domain);
    await waitFor("status shows the VM is not running", async () => ((await vm("outside"))?.status?.powerState !== "Running" ? true : undefined), { intervalMs: 50 });
    const seenAfterMs = Math.round(performance.now() - destroyedAt);
    const back = await running("outside");
    const restartedAfterMs = Math.round(performance.now() - destroyedAt);
    console.log(`virsh destroy → status not Running after ${seenAfterMs} ms; Running again after ${restartedAfterMs} ms`);
    expect(await virsh.state(domain)).toBe("running");
    expect(await virsh.exec("domid", domain)).not.toBe(before); // a new QEMU process: it was started again
    // the watcher reported it (the operator's next apply then owns the fields again)
    const reports = (watcher?.output.join("") ?? "").split("\n").filter((l) => l.includes("reported VM state") && l.includes(`"vm":"${ns}/outside"`));
    expect(reports.some((l) => l.includes('"powerState":"Stopped"'))).toBe(true);
    expect(back.status?.externalId).toBeTruthy();

    // and the watcher renews a heartbeat Lease per host
    const lease = JSON.parse(await kubectl(admin, ["get", "lease", `omnivisor-host-${kvm}`, "-n", ns, "-o", "json"])) as { spec: { holderIdentity: string; renewTime: string } };
    expect(lease.spec.holderIdentity).toBeTruthy();
    const renewed = await waitFor("lease renewed again", async () => {
      const l = JSON.parse(await kubectl(admin, ["get", "lease", `omnivisor-host-${kvm}`, "-n", ns, "-o", "json"])) as { spec: { renewTime: string } };
      return l.spec.renewTime !== lease.spec.renewTime ? l : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500 });
    expect(Date.parse(renewed.spec.renewTime)).toBeGreaterThan(Date.parse(lease.spec.renewTime));
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "outside", "-n", ns, "--wait=true", "--timeout=60s"]);
  });

  it("given a domain made by hand with virsh, when a VirtualMachine adopts it, then it keeps running (same domain id) and is managed from then on", async () => {
    const domain = `${ns}.hand-made`;
    const uuid = await virsh.runUnmanaged(domain);
    const domid = await virsh.exec("domid", domain);
    const listed = await waitFor("host lists the unmanaged domain", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", kvm);
      return (h?.status?.["unmanagedVms"] as { externalId: string }[] | undefined)?.some((u) => u.externalId === uuid) ? h : undefined;
    }, { timeoutMs: 40_000, intervalMs: 500 });
    expect(listed).toBeDefined();
    const adopted = (powerState: string) => ({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: "adopted", namespace: ns },
      spec: { powerState, powerOff: { mode: "Hard", timeoutSeconds: 10 }, adopt: { host: kvm, externalId: uuid } },
    });
    await apply(admin, adopted("Running"));
    const got = await running("adopted");
    expect(got.status).toMatchObject({ host: kvm, driver: "libvirt", externalId: uuid });
    expect(condition(got, "Created")).toMatchObject({ status: "True", reason: "Adopted" });
    expect(await virsh.exec("domid", domain)).toBe(domid); // not restarted
    // managed from then on: the spec's power state is applied to it
    await apply(admin, adopted("Stopped"));
    await waitFor("adopted VM stopped", async () => ((await vm("adopted"))?.status?.phase === "Stopped" ? true : undefined), { timeoutMs: 30_000, intervalMs: 300 });
    expect(await virsh.state(domain)).toBe("shut off");
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "adopted", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect((await virshDomains(prefix)).has(domain)).toBe(false);
  });

  it("given another VirtualMachine's domain, when a VirtualMachine names it in spec.adopt, then it is never taken (and deleting the adopter leaves it); a namespace the Host does not list may not adopt at all; an image naming its disk volume is refused", async () => {
    await apply(admin, libvirtVm("owner", "Stopped"));
    const owner = await waitFor("the owner's VM made", async () => ((await vm("owner"))?.status?.phase === "Stopped" ? await vm("owner") : undefined), { timeoutMs: 60_000, intervalMs: 300 });
    const externalId = owner.status!["externalId"] as string;
    const adopter = (name: string, namespace: string) => ({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name, namespace },
      spec: { powerState: "Running", adopt: { host: kvm, externalId } },
    });
    // same namespace (allowed on the Host), but the domain carries the owner's uid: not taken
    await apply(admin, adopter("intruder", ns));
    const refused = await waitFor("the intruder refused", async () => {
      const got = await vm("intruder");
      return condition(got, "Ready")?.reason === "AdoptTargetMissing" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    expect(refused.status).toMatchObject({ phase: "Provisioning" });
    expect(refused.status!["externalId"]).toBeUndefined();
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "intruder", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect((await virshDomains(prefix)).has(`${ns}.owner`)).toBe(true);
    expect(await virsh.state(`${ns}.owner`)).toBe("shut off");
    // a namespace the Host does not list: refused before any driver call, with the reason
    const other = `${ns}-other`;
    await kubectl(admin, ["create", "namespace", other]);
    // that namespace's VMs are served by an operator of their own (the scenario's watches only ns)
    const theirs = startOperator(operatorKubeconfig, other, ["--host-selector", `omnivisor.io/scenario=${ns}`, "--controllers", "virtualmachine"]);
    try {
      await apply(admin, adopter("thief", other));
      const pending = await waitFor("the thief not scheduled", async () => {
        const got = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "thief", "-n", other, "-o", "json"])) as Obj;
        return condition(got, "Scheduled")?.reason === "AdoptionNotAllowed" ? got : undefined;
      }, { timeoutMs: 30_000, intervalMs: 300 });
      expect(condition(pending, "Scheduled")?.message).toContain(`does not allow namespace ${other} to adopt`);
      expect(pending.status).toMatchObject({ phase: "Pending" });
      await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "thief", "-n", other, "--wait=true", "--timeout=60s"]);
    } finally {
      await theirs.stop();
      await kubectl(admin, ["delete", "namespace", other, "--wait=false"]);
    }
    expect((await virshDomains(prefix)).has(`${ns}.owner`)).toBe(true);

    // a disk image naming the owner's disk volume (<uid>-root) would be an overlay over its data: refused
    const reader = libvirtVm("reader", "Stopped");
    reader.spec.disks = [{ name: "root", image: `${owner.metadata.uid}-root` }];
    await apply(admin, reader);
    const failed = await waitFor("the reader refused", async () => {
      const got = await vm("reader");
      return condition(got, "Ready")?.reason === "ProvisioningFailed" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    expect(condition(failed, "Ready")?.message).toMatch(/is a VM disk's volume name outside the image catalog of datacenter .*spec.imageStore.allowRawPaths/);
    expect((await virshDomains(prefix)).has(`${ns}.reader`)).toBe(false);
    const volumes = await execFileP("virsh", ["-q", "-c", libvirtUri, "vol-list", "omnivisor"]);
    expect(volumes.stdout).not.toContain(`${failed.metadata.uid}-root`);
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "reader", "owner", "-n", ns, "--wait=true", "--timeout=60s"]);
  });

  it("given the status watcher is gone, when someone destroys a VM with virsh, then the operator's own polling finds it and starts it again", async () => {
    await apply(admin, libvirtVm("unwatched"));
    await running("unwatched");
    const domain = `${ns}.unwatched`;
    const before = await virsh.exec("domid", domain);
    await watcher?.stop();
    // the heartbeat lapses (3 × the 2 s interval): the operator goes back to polling the host's VMs
    const lease = JSON.parse(await kubectl(admin, ["get", "lease", `omnivisor-host-${kvm}`, "-n", ns, "-o", "json"])) as { spec: { renewTime: string; leaseDurationSeconds: number } };
    const lapsedAt = Date.parse(lease.spec.renewTime) + lease.spec.leaseDurationSeconds * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, lapsedAt - Date.now()) + 500));
    await virsh.exec("destroy", domain);
    await waitFor("the operator starts it again", async () => {
      const id = await virsh.exec("domid", domain).catch(() => "-");
      return id !== "-" && id !== before && (await virsh.state(domain)) === "running" ? id : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, onTimeout: () => operatorOutput() });
    const events = JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=unwatched", "-o", "json"])) as { items: { reason: string }[] };
    expect(events.items.map((e) => e.reason)).toContain("Starting");
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "unwatched", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await virshDomains(prefix)).toEqual(new Map());
  });
});
