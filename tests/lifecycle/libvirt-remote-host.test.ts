// Scenario: the operator runs a VM on a remote libvirt host (issue #24) whose storage it can only
// reach through libvirt's protocol.
//   given  a private libvirtd over qemu+tcp:// whose storage pool is a tmpfs only it can see, with
//          the idle VM image uploaded into it through the driver, a Datacenter whose catalog maps
//          image "idle" to that libvirt image, and a Host pointing at the daemon
//   when   a VirtualMachine from image "idle" is applied, resized (disk, CPUs, memory), then deleted
//   then   it runs with its disk as a volume named by its uid in the host's pool; the disk grows
//          while it runs, CPUs and memory at its next start; once deleted the pool holds the
//          image's volumes again and nothing else
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { idleVmImage } from "../harness/services.ts";
import { apply, condition, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "./fixtures.ts";

const exec = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `rh-${run}`;
const dc = `rh-${run}-dc`;
const hostName = `rh-${run}-kvm`;
let daemon: PrivateLibvirtd;
let endpoint: string;
let operator: Operator | undefined;

const virsh = async (...args: string[]): Promise<string> => (await exec("virsh", ["-q", "-c", endpoint, ...args])).stdout.trim();
const volumes = async (): Promise<string[]> => {
  await virsh("pool-refresh", "omnivisor");
  return (await virsh("vol-list", "omnivisor")).split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean).sort();
};
/** A volume's capacity in bytes, as the host says. */
const capacity = async (volume: string): Promise<number> => Number(/Capacity:\s+(\d+) bytes/.exec(await virsh("vol-info", "--pool", "omnivisor", volume, "--bytes"))?.[1]);
const remoteVm = (size: { cpus: number; memory: string; size: string; powerState?: string }) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "remote", namespace: ns },
  spec: { powerState: size.powerState ?? "Running", powerOff: { mode: "Hard", timeoutSeconds: 10 }, cpus: size.cpus, memory: size.memory, disks: [{ name: "root", image: "idle", size: size.size }], networks: [], placement: { hosts: [hostName] } },
});
const operatorOutput = (): string => warnings(operator);

beforeAll(async () => {
  const image = idleVmImage();
  const port = await freePort();
  daemon = await startPrivateLibvirtd(`rh-${run}`, { tcp: { address: "127.0.0.1", port }, tmpfs: ["/var/lib/libvirt/omnivisor"] });
  endpoint = `qemu+tcp://127.0.0.1:${port}/system`;
  // the image reaches the host the only way it can: uploaded over the connection
  const session = (await new LibvirtDriver().connect({ endpoint, libvirt: { virtType: "qemu" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await session.uploadImage("idle-vm", await imageUpload(image));
  } finally {
    await session.close();
  }
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "idle", sources: { libvirt: "idle-vm" } }] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: hostName, labels: scenarioLabel(ns), annotations: { "libvirt.omnivisor.io/virt-type": "qemu" } }, spec: { datacenter: dc, driver: "libvirt", endpoint, cpuOvercommit: 4 } },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 120_000);

afterAll(async () => {
  await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await operator?.stop();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  await kubectl(admin, ["delete", `hosts.omnivisor.io/${hostName}`, `datacenters.omnivisor.io/${dc}`, "--wait=false"]).catch(() => undefined);
  await daemon?.stop();
});

describe("a VM on a remote libvirt host through the operator", () => {
  it("runs from the catalog image with its disk as a volume on the host, and leaves only the image once deleted", async () => {
    await apply(admin, remoteVm({ cpus: 1, memory: "64Mi", size: "1Gi" }));
    const vm = await waitFor("VM Running", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "remote", ns);
      return got?.status?.phase === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    expect(vm.status?.host).toBe(hostName);
    expect(await volumes()).toEqual([`${vm.metadata.uid}-root.qcow2`, "idle-vm.qcow2", "idle-vm.vmlinuz"].sort());
    expect(await virsh("dumpxml", `${ns}.remote`)).toContain("<kernel>/var/lib/libvirt/omnivisor/idle-vm.vmlinuz</kernel>");

    // resized through the operator: the disk (a volume on the host) grows while the VM runs; CPUs
    // and memory are in the definition for the next boot (RestartRequired says so meanwhile)
    const disk = `${vm.metadata.uid}-root.qcow2`;
    await apply(admin, remoteVm({ cpus: 2, memory: "96Mi", size: "2Gi" }));
    await waitFor("the disk grown to 2 GiB", async () => ((await capacity(disk)) === 2 ** 31 ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    const grown = await waitFor("RestartRequired for the CPUs", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "remote", ns);
      return condition(got, "RestartRequired")?.status === "True" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    expect(condition(grown, "RestartRequired")?.message).toContain("2 CPUs / 96 MiB");
    expect(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=remote,reason=DiskGrown", "-o", "jsonpath={.items[*].message}"])).toContain("disk root 1 → 2 GiB");
    expect(await virsh("dumpxml", "--inactive", `${ns}.remote`)).toMatch(/<vcpu[^>]*>2<\/vcpu>/);
    await apply(admin, remoteVm({ cpus: 2, memory: "96Mi", size: "2Gi", powerState: "Stopped" }));
    await waitFor("Stopped", async () => ((await getObject(admin, "virtualmachines.omnivisor.io", "remote", ns))?.status?.phase === "Stopped" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    await apply(admin, remoteVm({ cpus: 2, memory: "96Mi", size: "2Gi" }));
    await waitFor("Running with 2 CPUs, nothing left to restart for", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "remote", ns);
      const live = await virsh("dumpxml", `${ns}.remote`).catch(() => "");
      return got?.status?.phase === "Running" && condition(got, "RestartRequired") === undefined && /<vcpu[^>]*>2<\/vcpu>/.test(live) ? got : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: () => operatorOutput() });
    expect(await capacity(disk)).toBe(2 ** 31);

    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io/remote", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await volumes()).toEqual(["idle-vm.qcow2", "idle-vm.vmlinuz"]);
  });
});
