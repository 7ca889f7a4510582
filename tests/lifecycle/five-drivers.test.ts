// Scenario: one VirtualMachine manifest, differing only in spec.placement.driver, lands on each of
// the five hypervisor families through the operator: libvirt (real libvirtd, TCG), Docker (real
// dockerd), ESXi (vcsim, a real simulator of the vim25 API), XenServer and Hyper-V (FAKES: the
// protocol fakes in tests/fakes, since neither can run here). The Datacenter's image catalog
// names the one image "tiny" on every driver. Delete takes each VM off its hypervisor.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { waitFor } from "../../src/local/wait.ts";
import { anyCredentials, govc, sharedVcsim } from "../drivers/esxi-vcsim.ts";
import { FakeHyperVAdmin } from "../fakes/winrm/outside.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { dockerSocket, libvirtUri, requireDocker, requireLibvirt, vcsimUrl } from "../harness/services.ts";
import { apply, condition, dockerContainers, getObject, kubectl, removeLeftovers, startOperator, virshDomains, type Obj, type Operator } from "./fixtures.ts";

// Its own control plane: Hosts are cluster-scoped, and the operator of another scenario on the
// shared one would reconcile these Hosts too (and this operator theirs), each counting only its
// own namespace's VMs.
let cp: ControlPlane;
let admin = "";
let operatorKubeconfig = "";
const run = randomBytes(3).toString("hex");
const ns = `fd-${run}`;
const prefix = `${ns}.`;
const dc = `fd-${run}-dc`;
const diskDir = join(tmpdir(), `omni-fd-${run}`);
const esxiImage = `fd-${run}-tiny`;
const drivers = ["libvirt", "docker", "esxi", "xenserver", "hyperv"] as const;
type Driver = (typeof drivers)[number];
const xenCredentials = { username: "root", password: `xapi-${randomBytes(6).toString("hex")}` };
const winrmCredentials = { username: "Administrator", password: `winrm-${randomBytes(6).toString("hex")}` };

let xapi: FakeXapiServer;
let winrm: FakeWinrmServer;
let operator: Operator | undefined;

/** The one manifest; only the placement's driver differs. */
const manifest = (driver: Driver) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: `on-${driver}`, namespace: ns },
  spec: {
    powerState: "Running",
    cpus: 1,
    memory: "128Mi",
    powerOff: { mode: "Hard", timeoutSeconds: 10 },
    disks: [{ name: "root", image: "tiny" }],
    placement: { datacenter: dc, driver },
  },
});

const secret = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
const host = (driver: Driver, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name: `fd-${run}-${driver}`, annotations },
  spec: { datacenter: dc, driver, cpuOvercommit: 8, ...spec },
});

/** What each hypervisor itself says of the VM named <ns>.on-<driver>: its power, or undefined. */
async function onHypervisor(driver: Driver): Promise<string | undefined> {
  const name = `${ns}.on-${driver}`;
  switch (driver) {
    case "libvirt":
      return (await virshDomains(prefix)).get(name);
    case "docker":
      return (await dockerContainers(prefix)).get(name);
    case "esxi": {
      const info = await govc(vcsimUrl, ["vm.info", name]);
      return /Power state:\s+(\S+)/.exec(info)?.[1];
    }
    case "xenserver": {
      const vm = xapi.db.all("VM").find(([, r]) => r["name_label"] === name)?.[1];
      return vm === undefined ? undefined : String(vm["power_state"]);
    }
    case "hyperv": {
      const vm = [...winrm.hyperv.vms.values()].find((v) => v.Name === name);
      return vm === undefined ? undefined : String(vm.State);
    }
  }
}
const runningOnHypervisor: Record<Driver, string> = { libvirt: "running", docker: "running", esxi: "poweredOn", xenserver: "Running", hyperv: "2" };

beforeAll(async () => {
  cp = await ControlPlane.start({ controllerManager: false });
  admin = cp.kubeconfigs.admin;
  operatorKubeconfig = cp.kubeconfigs.operator;
  await requireLibvirt();
  await requireDocker();
  const esxi = await sharedVcsim();
  xapi = await FakeXapiServer.start(xenCredentials);
  winrm = await FakeWinrmServer.start(winrmCredentials);
  new FakeHyperVAdmin(winrm).addImage("tiny", 64 * 1024 ** 2);
  await govc(vcsimUrl, ["datastore.mkdir", "-p", "omnivisor-images"]);
  await govc(vcsimUrl, ["datastore.disk.create", "-size", "10M", `omnivisor-images/${esxiImage}.vmdk`]);
  await mkdir(diskDir, { recursive: true });
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    // the ESXi host's pinned certificate travels in its Secret (key thumbprint), not in the Host
    secret("esxi", { username: anyCredentials.username!, password: anyCredentials.password!, thumbprint: esxi.tls!.thumbprint! }),
    secret("xen", xenCredentials),
    secret("hyperv", winrmCredentials),
    {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "Datacenter",
      metadata: { name: dc },
      spec: {
        imageStore: { location: omnivisorImageStore() },
        images: [
          { name: "tiny", sources: { libvirt: "tiny-vm", docker: "busybox:local", esxi: esxiImage, xenserver: "Other install media", hyperv: "tiny" } },
          { name: "containers-only", sources: { docker: "busybox:local" } },
        ],
      },
    },
    host("libvirt", { endpoint: libvirtUri }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
    host("docker", { endpoint: `unix://${dockerSocket}` }),
    host("esxi", { endpoint: esxi.endpoint, credentialsSecretRef: { name: "esxi", namespace: ns } }),
    host("xenserver", { endpoint: xapi.url, credentialsSecretRef: { name: "xen", namespace: ns } }),
    host("hyperv", { endpoint: winrm.url, tls: { caBundle: winrm.caPem }, credentialsSecretRef: { name: "hyperv", namespace: ns } }),
  );
  operator = startOperator(operatorKubeconfig, ns);
});

afterAll(async () => {
  await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await operator?.stop();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  await kubectl(admin, ["delete", "datacenters.omnivisor.io", dc, ...drivers.map((d) => `hosts.omnivisor.io/fd-${run}-${d}`), "--wait=false"]).catch(() => undefined);
  await removeLeftovers(prefix);
  if ((await onHypervisor("esxi").catch(() => undefined)) !== undefined) await govc(vcsimUrl, ["vm.destroy", `${ns}.on-esxi`]).catch(() => undefined);
  await govc(vcsimUrl, ["datastore.rm", "-f", `omnivisor-images/${esxiImage}.vmdk`]).catch(() => undefined);
  await xapi?.stop();
  await winrm?.stop();
  await cp?.stop();
  await rm(diskDir, { recursive: true, force: true });
});

const operatorWarnings = (): string =>
  (operator?.output ?? []).join("").split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15).join("\n");

describe("one VirtualMachine manifest on five hypervisor families", () => {
  it("given a Host of each driver, then all five are Ready", async () => {
    for (const d of drivers) {
      const h = await waitFor(`${d} host Ready`, async () => {
        const got = await getObject(admin, "hosts.omnivisor.io", `fd-${run}-${d}`);
        return condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: operatorWarnings });
      expect(condition(h, "Reachable")).toMatchObject({ status: "True" });
    }
  });

  it("given the manifest with each driver, then each VM runs on its driver's host from that driver's image, and delete takes each off", async () => {
    await apply(admin, ...drivers.map(manifest));
    const placed: Record<string, Obj> = {};
    for (const d of drivers) {
      placed[d] = await waitFor(`on-${d} Running`, async () => {
        const got = await getObject(admin, "virtualmachines.omnivisor.io", `on-${d}`, ns);
        return got?.status?.phase === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: operatorWarnings });
    }
    for (const d of drivers) {
      expect(placed[d]!.status).toMatchObject({ host: `fd-${run}-${d}`, driver: d, powerState: "Running" });
      expect(placed[d]!.status?.externalId).toBeTruthy();
      expect(await onHypervisor(d)).toBe(runningOnHypervisor[d]);
    }
    // the image each driver got is its own source from the catalog
    expect((await govc(vcsimUrl, ["device.info", "-vm", `${ns}.on-esxi`, "disk-*"]))).toContain("omnivisor-disks/");
    const hv = [...winrm.hyperv.vms.values()].find((v) => v.Name === `${ns}.on-hyperv`)!;
    expect(hv.HardDrives.map((p) => winrm.hyperv.files.get(p.toLowerCase())?.parentPath)).toEqual([expect.stringMatching(/\\images\\tiny\.vhdx$/)]);

    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", ...drivers.map((d) => `on-${d}`), "-n", ns, "--wait=true", "--timeout=90s"]);
    for (const d of drivers) expect(await onHypervisor(d).catch(() => undefined)).toBeUndefined();
  });

  it("given an image with no source for the asked driver, then the VM stays Pending and Scheduled=False says which source is missing", async () => {
    const vm = manifest("libvirt");
    await apply(admin, { ...vm, metadata: { ...vm.metadata, name: "no-source" }, spec: { ...vm.spec, disks: [{ name: "root", image: "containers-only" }] } });
    const got = await waitFor("no-source unschedulable", async () => {
      const v = await getObject(admin, "virtualmachines.omnivisor.io", "no-source", ns);
      return condition(v, "Scheduled")?.status === "False" ? v : undefined;
    });
    expect(got.status?.phase).toBe("Pending");
    expect(condition(got, "Scheduled")?.message).toContain("no libvirt source for image containers-only");
    expect(await virshDomains(prefix)).toEqual(new Map());
    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "no-source", "-n", ns, "--wait=true", "--timeout=30s"]);
  });

  it("given a XenServer host that refuses a VM for lack of memory (placement counted it with overcommit), then HostRejected says why, what it made there is removed, it is not tried there again at once, and the VM runs on another host", async () => {
    const small = await FakeXapiServer.start({ ...xenCredentials, host: { cpus: 8, memoryGiB: 1 } });
    const smallHost = `fd-${run}-xen-small`;
    const bigHost = `fd-${run}-xenserver`;
    const name = `${ns}.too-big`;
    const vmsNamed = (server: FakeXapiServer) => server.db.all("VM").filter(([, r]) => r["name_label"] === name).map(([, r]) => String(r["power_state"]));
    try {
      await apply(admin, { ...host("xenserver", { endpoint: small.url, credentialsSecretRef: { name: "xen", namespace: ns }, memoryOvercommit: 4 }), metadata: { name: smallHost } });
      await waitFor(`${smallHost} Ready`, async () => (condition(await getObject(admin, "hosts.omnivisor.io", smallHost), "Ready")?.status === "True" ? true : undefined), { onTimeout: operatorWarnings });
      const vm = manifest("xenserver");
      const tooBig = (hosts: string[]) => ({ ...vm, metadata: { ...vm.metadata, name: "too-big" }, spec: { ...vm.spec, memory: "2Gi", placement: { datacenter: dc, driver: "xenserver", hosts } } });
      await apply(admin, tooBig([smallHost]));
      const refused = await waitFor("too-big refused by the small host", async () => {
        const v = await getObject(admin, "virtualmachines.omnivisor.io", "too-big", ns);
        return condition(v, "Scheduled")?.status === "False" && /refusing the create/.test(condition(v, "Scheduled")?.message ?? "") ? v : undefined;
      }, { onTimeout: operatorWarnings });
      expect(refused.status?.phase).toBe("Pending");
      expect(refused.status?.host).toBeUndefined();
      expect(condition(refused, "Scheduled")?.message).toContain(`creating on host ${smallHost} failed`);
      const events = JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=too-big,reason=HostRejected", "-o", "json"])) as { items: unknown[] };
      expect(events.items).toHaveLength(1);
      expect(vmsNamed(small)).toEqual([]); // the halted VM it made was removed
      // not sent back to the host that refused it: nothing more is written while it waits
      const version = (await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "too-big", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}"])).trim();
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "too-big", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}"])).trim()).toBe(version);

      // when it may also go to the big host, then it runs there
      await apply(admin, tooBig([smallHost, bigHost]));
      const ran = await waitFor("too-big Running", async () => {
        const v = await getObject(admin, "virtualmachines.omnivisor.io", "too-big", ns);
        return v?.status?.phase === "Running" ? v : undefined;
      }, { timeoutMs: 60_000, onTimeout: operatorWarnings });
      expect(ran.status?.host).toBe(bigHost);
      expect(vmsNamed(xapi)).toEqual(["Running"]);
      expect(vmsNamed(small)).toEqual([]);
      await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "too-big", "-n", ns, "--wait=true", "--timeout=60s"]);
      expect(vmsNamed(xapi)).toEqual([]);
    } finally {
      await kubectl(admin, ["delete", "hosts.omnivisor.io", smallHost, "--wait=true", "--timeout=30s"]).catch(() => undefined);
      await small.stop();
    }
  });

  it("given a XenServer Host whose Secret has a wrong password, then Reachable=False says the credentials were rejected, and fixing the Secret heals it; the password shows nowhere", async () => {
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    const name = `fd-${run}-xen-badpw`;
    await apply(admin, secret("xen-badpw", { username: xenCredentials.username, password: wrong }), {
      ...host("xenserver", { endpoint: xapi.url, credentialsSecretRef: { name: "xen-badpw", namespace: ns } }),
      metadata: { name },
    });
    const rejected = await waitFor("wrong password reported", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", name);
      return condition(h, "Reachable")?.status === "False" ? h : undefined;
    }, { onTimeout: operatorWarnings });
    expect(condition(rejected, "Reachable")).toMatchObject({ reason: "AuthenticationFailed", message: expect.stringContaining("credentials were rejected") as string });
    expect(condition(rejected, "Ready")?.status).toBe("False");

    // when the Secret is corrected, then the host recovers on its own
    await apply(admin, secret("xen-badpw", xenCredentials));
    await waitFor("host recovers", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", name);
      return condition(h, "Reachable")?.status === "True" ? h : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, onTimeout: operatorWarnings });

    const everything = [
      await kubectl(admin, ["get", "hosts.omnivisor.io", name, "-o", "json"]),
      await kubectl(admin, ["get", "events", "-A", "-o", "json"]),
      (operator?.output ?? []).join(""),
    ].join("\n");
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(xenCredentials.password);
    await kubectl(admin, ["delete", "hosts.omnivisor.io", name, "--wait=true", "--timeout=30s"]);
  });
});
