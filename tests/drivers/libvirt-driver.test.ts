// Scenarios specific to the libvirt driver, beyond the conformance suite:
// - the tiny VM boots from a qcow2 overlay volume over its image's volume in the host's storage
//   pool (TCG, direct kernel boot) and its serial console is logged to a file beside QEMU's logs;
//   deleting the VM removes the overlay volume (the image volume and the log stay);
// - a simulated host of any size, from a node XML file read by the test driver in libvirtd.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { requireLibvirt, tinyVmImage } from "../harness/services.ts";

const run = promisify(execFile);
const id = randomBytes(3).toString("hex");
const dir = join(tmpdir(), `omni-lv-driver-${id}`);
const driver = new LibvirtDriver();

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(dir, { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

describe("libvirt driver on qemu:///system", () => {
  it("boots the tiny VM from an overlay over its base image, with the console logged to a file", async () => {
    const base = tinyVmImage();
    const session = (await driver.connect(
      { endpoint: "qemu:///system", libvirt: { virtType: "qemu", defaultNetwork: "default" } },
      undefined,
      AbortSignal.timeout(10_000),
    )) as LibvirtSession;
    const identity = { uid: randomUUID(), name: `lv-drv-${id}-tiny`, namespace: "drivers", kubeName: "tiny" };
    try {
      // given the tiny VM image on the host (make services uploads it; kept when already there)
      await session.uploadImage("tiny-vm", await imageUpload(base));
      // when a VM is created from it and started
      const vm = await session.createVm(identity, {
        cpus: 1,
        memoryMiB: 128,
        disks: [{ name: "root", image: "tiny-vm" }],
        networks: [{ name: "nic0" }],
        console: true,
        power: { state: "Running" },
      });
      expect(vm).toMatchObject({ managed: true, power: "Running", cpus: 1, memoryMiB: 128 });
      expect(vm.externalId).toBe(identity.uid);

      // then its disk is a volume named by its uid, an overlay over the image's base volume
      const volPath = async (vol: string): Promise<string> => (await run("virsh", ["-c", "qemu:///system", "vol-path", "--pool", "omnivisor", vol])).stdout.trim();
      const overlay = await volPath(`${identity.uid}-root.qcow2`);
      const baseVolume = await volPath("tiny-vm.qcow2");
      const info = JSON.parse((await run("qemu-img", ["info", "-U", "--output=json", overlay])).stdout) as { format: string; "backing-filename"?: string };
      expect(info).toMatchObject({ format: "qcow2", "backing-filename": baseVolume });

      // and the guest reaches its banner on the serial console, which is logged to a file
      const log = session.consoleLogOf(identity)!;
      expect(log).toBe(`/var/log/libvirt/qemu/${identity.name}-console.log`);
      await vi.waitFor(async () => expect(await readFile(log, "utf8").catch(() => "")).toContain("omnivisor-tiny-vm: ready"), { timeout: 60_000, interval: 500 });
      expect(await readFile(log, "utf8")).toMatch(/omnivisor-tiny-vm: disk vda \d+ sectors/);
      // when it is deleted, its overlay volume goes with it; the image's volume stays
      await session.deleteVm(identity);
      expect(await exists(overlay)).toBe(false);
      expect(await exists(baseVolume)).toBe(true);
    } finally {
      await session.deleteVm(identity);
      await session.close();
    }
  });
});

describe("libvirt driver on a simulated host (test driver, node XML)", () => {
  it("reports the size the node file gives it, and runs VMs there", async () => {
    // given a node file describing a 64-CPU, 256 GiB host
    const node = join(dir, "node.xml");
    await writeFile(
      node,
      `<node><cpu><mhz>2400</mhz><model>simulated</model><active>64</active><nodes>1</nodes><sockets>2</sockets><cores>16</cores><threads>2</threads></cpu><memory>268435456</memory></node>`,
    );
    const session = await driver.connect({ endpoint: `test+unix://${node}?socket=/run/libvirt/libvirt-sock` }, undefined, AbortSignal.timeout(10_000));
    try {
      // then observeHost reports that size, with no VMs yet
      const host = await session.observeHost();
      expect(host).toMatchObject({ reachable: true, hypervisor: "TEST", capacity: { cpus: 64, memoryMiB: 256 * 1024 }, vms: { total: 0 } });
      // and VMs can be created and started there without any files on this machine
      const identity = { uid: randomUUID(), name: `lv-sim-${id}`, namespace: "sim", kubeName: "a" };
      await session.createVm(identity, { cpus: 4, memoryMiB: 8192, disks: [{ name: "root", image: "anything" }], power: { state: "Running" } });
      expect((await session.observeHost()).vms).toEqual({ total: 1, running: 1, paused: 0, stopped: 0 });
      await session.deleteVm(identity);
    } finally {
      await session.close();
    }
  });
});

describe("libvirt driver: guest addresses", () => {
  it("observes the interface addresses of a running VM (test driver: it leases fake ones on its default network)", async () => {
    const session = await driver.connect({ endpoint: "test+unix:///default?socket=/run/libvirt/libvirt-sock" }, undefined, AbortSignal.timeout(10_000));
    const identity = { uid: randomUUID(), name: `lv-addr-${id}`, namespace: "sim", kubeName: "addr" };
    try {
      const stopped = await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [], networks: [{ name: "nic0", network: "default" }] });
      expect(stopped.addresses).toEqual([]);
      await session.setPower(identity, { state: "Running" });
      expect((await session.observeVm(identity))?.addresses).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/)]);
    } finally {
      await session.deleteVm(identity);
      await session.close();
    }
  });
});
