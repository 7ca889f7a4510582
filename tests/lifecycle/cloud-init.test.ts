// Scenario: a user gives a VM cloud-init user data, and the guest reads it (issue #18).
//   given  a private libvirtd reached over qemu+tcp:// (a remote host: its storage pool is a tmpfs
//          only it sees) with the tiny VM image uploaded into it, a Datacenter mapping image
//          "tiny" to it, a Host for that daemon and a Host for the local dockerd, and a Secret
//          holding cloud-config whose final_message is a marker only this run knows
//   when   a VirtualMachine with spec.cloudInit naming the Secret is applied
//   then   placement leaves the Docker host out, saying why (cloudInit); the VM runs on the libvirt
//          host with a seed volume <uid>-cidata.iso in the host's pool, attached as a CD-ROM; the
//          guest finds the seed (label cidata), prints the marker on its serial console; once the
//          VM is deleted the pool holds the image's volumes only
//   and    a VM with cloudInit whose only candidate is the Docker host is not scheduled:
//          Scheduled=False names cloudInit and docker
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { dockerSocket, requireDocker, tinyVmImage } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "./fixtures.ts";

const exec = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `ci-${run}`;
const dc = `ci-${run}-dc`;
const kvmHost = `ci-${run}-kvm`;
const dockerHost = `ci-${run}-docker`;
const marker = `omnivisor-marker-${run}`;
let daemon: PrivateLibvirtd;
let endpoint: string;
let operator: Operator | undefined;

const virsh = async (...args: string[]): Promise<string> => (await exec("virsh", ["-q", "-c", endpoint, ...args])).stdout.trim();
const volumes = async (): Promise<string[]> => {
  await virsh("pool-refresh", "omnivisor");
  return (await virsh("vol-list", "omnivisor")).split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean).sort();
};
const vm = (name: string, placement: object) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: {
    cpus: 1,
    memory: "128Mi",
    powerOff: { mode: "Hard", timeoutSeconds: 10 },
    disks: [{ name: "root", image: "tiny" }],
    networks: [],
    cloudInit: { userDataSecretRef: { name: "guest-config", key: "user-data" } },
    placement: { datacenter: dc, ...placement },
  },
});
const operatorOutput = (): string => warnings(operator);
const consoleSoFar = (file: string): string => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "(no console log)";
  }
};

beforeAll(async () => {
  await requireDocker();
  const port = await freePort();
  daemon = await startPrivateLibvirtd(`ci-${run}`, { tcp: { address: "127.0.0.1", port }, tmpfs: ["/var/lib/libvirt/omnivisor"] });
  endpoint = `qemu+tcp://127.0.0.1:${port}/system`;
  const session = (await new LibvirtDriver().connect({ endpoint, libvirt: { virtType: "qemu" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await session.uploadImage("tiny-vm", await imageUpload(tinyVmImage()));
  } finally {
    await session.close();
  }
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "v1", kind: "Secret", metadata: { name: "guest-config", namespace: ns }, stringData: { "user-data": `#cloud-config\nfinal_message: ${marker}\n` } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "tiny", sources: { libvirt: "tiny-vm", docker: "busybox:local" } }] } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: kvmHost, labels: scenarioLabel(ns), annotations: { "libvirt.omnivisor.io/virt-type": "qemu" } }, spec: { datacenter: dc, driver: "libvirt", endpoint, cpuOvercommit: 4 } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: dockerHost, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "docker", endpoint: `unix://${dockerSocket}` } },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 120_000);

afterAll(async () => {
  await endScenario(admin, ns, `ci-${run}`, operator);
  await daemon?.stop();
});

describe("cloud-init user data reaches the guest", () => {
  it("a libvirt guest on a remote host reads its NoCloud seed and prints the marker; the Docker host is left out, saying why", async () => {
    await apply(admin, vm("seeded", {}));
    const seeded = await waitFor("VM Running", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "seeded", ns);
      return got?.status?.phase === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    expect(seeded.status?.host, "placement never picks the Docker host for a VM with cloudInit").toBe(kvmHost);
    const uid = seeded.metadata.uid;
    expect(await volumes()).toEqual([`${uid}-cidata.iso`, `${uid}-root.qcow2`, "tiny-vm.initrd", "tiny-vm.qcow2", "tiny-vm.vmlinuz"].sort());
    const xml = await virsh("dumpxml", `${ns}.seeded`);
    expect(xml).toMatch(new RegExp(`<disk type=.file. device=.cdrom.>[\\s\\S]*?${uid}-cidata\\.iso[\\s\\S]*?<target dev=.sda. bus=.sata.`));

    // the guest's serial console, as the host logs it
    const console = join(daemon.dir, "log", "qemu", `${ns}.seeded-console.log`);
    const text = await waitFor("the marker on the console", async () => {
      const log = await readFile(console, "utf8").catch(() => "");
      return log.includes(`final_message ${marker}`) ? log : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: () => `console so far:\n${consoleSoFar(console)}\n${operatorOutput()}` });
    expect(text).toContain(`omnivisor-tiny-vm: cloud-init seed on /dev/sr0, ${uid}`);
    expect(text).toContain(`omnivisor-tiny-vm: final_message ${marker}`);

    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io/seeded", "-n", ns, "--wait=true", "--timeout=60s"]);
    expect(await volumes(), "the seed goes with the VM").toEqual(["tiny-vm.initrd", "tiny-vm.qcow2", "tiny-vm.vmlinuz"]);
  });

  it("a VM with cloudInit whose only candidate is a Docker host is not scheduled, and says why", async () => {
    await apply(admin, vm("container", { hosts: [dockerHost] }));
    const pending = await waitFor("Scheduled=False", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "container", ns);
      return condition(got, "Scheduled")?.status === "False" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => operatorOutput() });
    expect(condition(pending, "Scheduled")?.message).toMatch(/cloudInit: docker cannot/);
    expect(pending.status?.host).toBeUndefined();
  });
});
