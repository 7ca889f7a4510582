// Scenario: a remote libvirt host whose disks the manager cannot see (issue #24).
//   given  a private libvirtd reached over qemu+tcp:// on loopback, whose storage pool directory is
//          a tmpfs that exists only inside the daemon's mount namespace
//   when   an image is uploaded through the driver, and a VM is created from it, grown and deleted
//   then   everything happens as volumes of the host's pool (checked with virsh over the same TCP
//          endpoint), nothing appears on this side's filesystem, and the uploaded bytes are intact
//   and    a create that fails half way (image missing for the second disk; define refused) leaves
//          nothing but the VM's own volumes once its retry succeeds, and nothing at all once the VM
//          is deleted instead
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DriverError, type HostConnection, type VmSpec } from "../../drivers/contract/index.ts";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import type { LibvirtRemote } from "../../drivers/libvirt/rpc/remote.ts";
import { freePort } from "../../src/local/ports.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { idleVmImage } from "../harness/services.ts";

const exec = promisify(execFile);
const run = randomBytes(3).toString("hex");
const poolPath = "/var/lib/libvirt/omnivisor";
const driver = new LibvirtDriver();
let daemon: PrivateLibvirtd;
let host: HostConnection;
let session: LibvirtSession;
let scratch: string;

/** virsh over the same TCP endpoint: an independent look at the host. */
const virsh = async (...args: string[]): Promise<string> => (await exec("virsh", ["-q", "-c", host.endpoint, ...args])).stdout.trim();
const volumes = async (): Promise<string[]> => {
  await virsh("pool-refresh", "omnivisor");
  return (await virsh("vol-list", "omnivisor")).split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean).sort();
};
const capacityBytes = async (vol: string): Promise<number> => Number(/Capacity:\s+([\d.]+) GiB/.exec(await virsh("vol-info", "--pool", "omnivisor", vol))?.[1]) * 2 ** 30;
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
const ownVolumes = (all: string[], uid: string): string[] => all.filter((v) => v.startsWith(`${uid}-`));
const failure = async (p: Promise<unknown>): Promise<DriverError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DriverError);
  return err as DriverError;
};

beforeAll(async () => {
  const image = idleVmImage(); // fails with "make services" when it was not built
  scratch = await mkdtemp(join(tmpdir(), `omni-lv-remote-${run}-`));
  const port = await freePort();
  daemon = await startPrivateLibvirtd(`remote-${run}`, { tcp: { address: "127.0.0.1", port }, tmpfs: [poolPath] });
  host = { endpoint: `qemu+tcp://127.0.0.1:${port}/system`, libvirt: { virtType: "qemu" } };
  session = (await driver.connect(host, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  expect(image.disk).toBeTruthy();
}, 60_000);

afterAll(async () => {
  await session?.close();
  await daemon?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const spec = (disks: VmSpec["disks"]): VmSpec => ({ cpus: 1, memoryMiB: 64, disks, networks: [], power: { state: "Running" } });

describe("libvirt host reached over qemu+tcp, storage only through the remote protocol", () => {
  it("gets the image by upload into the host's pool, which this process cannot see", async () => {
    const image = idleVmImage();
    // given no image on the host: a create says so, and makes nothing
    const early = { uid: randomUUID(), name: `lv-remote-early-${run}`, namespace: "remote", kubeName: "early" };
    expect((await failure(session.createVm(early, spec([{ name: "root", image: "idle-vm" }])))).reason).toBe("image-missing");

    // when the image is uploaded through the driver
    expect(await session.uploadImage("idle-vm", await imageUpload(image))).toEqual(["idle-vm.qcow2", "idle-vm.vmlinuz"]);
    // a second upload keeps what is there
    expect(await session.uploadImage("idle-vm", await imageUpload(image))).toEqual([]);

    // then the host's pool (made by the driver at libvirt's conventional place) holds it ...
    expect(await virsh("pool-dumpxml", "omnivisor")).toContain(`<path>${poolPath}</path>`);
    expect(await volumes()).toEqual(["idle-vm.qcow2", "idle-vm.vmlinuz"]);
    // ... byte for byte (read back with virsh's own stream client)
    const back = join(scratch, "kernel.back");
    await virsh("vol-download", "--pool", "omnivisor", "idle-vm.vmlinuz", back);
    expect((await readFile(back)).equals(await readFile(image.kernel))).toBe(true);
    // ... libvirt recognises the uploaded base disk as qcow2 with its virtual size
    expect(await virsh("vol-dumpxml", "--pool", "omnivisor", "idle-vm.qcow2")).toMatch(/<format type='qcow2'\/>/);
    // ... and none of it is on this side: the daemon's pool directory is a tmpfs of its own
    // namespace; here (under the daemon's private /var/lib/libvirt) it is an empty mount point
    expect(await readdir(join(daemon.dir, "lib", "omnivisor"))).toEqual([]);
    expect(ownVolumes(await volumes(), early.uid)).toEqual([]);
  });

  it("creates a VM from the image, grows its disks stopped and running, reports pool storage, and deletes only its volumes", async () => {
    const identity = { uid: randomUUID(), name: `lv-remote-vm-${run}`, namespace: "remote", kubeName: "vm" };
    const disks = [
      { name: "root", image: "idle-vm", sizeGiB: 1 },
      { name: "data", sizeGiB: 1 },
    ];
    try {
      // when a VM is created from the image
      expect(await session.createVm(identity, spec(disks))).toMatchObject({ power: "Running", managed: true });
      // then its disks are volumes named by its uid in the host's pool, an overlay and a blank one
      expect(ownVolumes(await volumes(), identity.uid)).toEqual([`${identity.uid}-data.qcow2`, `${identity.uid}-root.qcow2`]);
      const rootXml = await virsh("vol-dumpxml", "--pool", "omnivisor", `${identity.uid}-root.qcow2`);
      expect(rootXml).toContain(`<backingStore>\n    <path>${poolPath}/idle-vm.qcow2</path>`);
      const domain = await virsh("dumpxml", identity.name);
      expect(domain).toContain(`<kernel>${poolPath}/idle-vm.vmlinuz</kernel>`);
      expect(domain).toContain(`<source file='${poolPath}/${identity.uid}-root.qcow2'`);
      // which exist only on the host
      expect(await exists(join(daemon.dir, "lib", "omnivisor", `${identity.uid}-root.qcow2`))).toBe(false);
      expect(await exists(`${poolPath}/${identity.uid}-root.qcow2`)).toBe(false);
      expect(await capacityBytes(`${identity.uid}-root.qcow2`)).toBe(2 ** 30);

      // when the running VM's data disk grows (QEMU grows it), and the stopped VM's root disk
      await session.updateVm(identity, { ...spec(disks), disks: [disks[0]!, { name: "data", sizeGiB: 2 }] });
      expect(await capacityBytes(`${identity.uid}-data.qcow2`)).toBe(2 * 2 ** 30);
      await session.setPower(identity, { state: "Stopped", mode: "Hard" });
      await session.updateVm(identity, { ...spec(disks), disks: [{ ...disks[0]!, sizeGiB: 3 }, { name: "data", sizeGiB: 2 }] });
      expect(await capacityBytes(`${identity.uid}-root.qcow2`)).toBe(3 * 2 ** 30);
      // and it still starts from the grown disks
      await session.setPower(identity, { state: "Running" });
      expect((await session.observeVm(identity))?.power).toBe("Running");

      // the host's storage figure is the pool's capacity (the 2 GiB tmpfs), not a local statfs
      expect((await session.observeHost()).capacity.storageGiB).toBe(2);

      // when it is deleted, its volumes go; the image's stay
      await session.deleteVm(identity);
      expect(await volumes()).toEqual(["idle-vm.qcow2", "idle-vm.vmlinuz"]);
    } finally {
      await session.deleteVm(identity);
    }
  });

  it("a create that fails half way leaves only the VM's own volumes after its retry, and none once it is deleted", async () => {
    // given a VM whose second disk names an image the host does not have yet
    const a = { uid: randomUUID(), name: `lv-remote-a-${run}`, namespace: "remote", kubeName: "a" };
    const disksA = [
      { name: "root", image: "idle-vm" },
      { name: "extra", image: "late" },
    ];
    try {
      // when the create fails after the first disk was made
      expect((await failure(session.createVm(a, spec(disksA)))).reason).toBe("image-missing");
      expect(ownVolumes(await volumes(), a.uid)).toEqual([`${a.uid}-root.qcow2`]);
      // and the image arrives, and the create is retried
      await session.uploadImage("late", { disk: (await imageUpload(idleVmImage())).disk! });
      await session.createVm(a, spec(disksA));
      // then the VM has exactly its two volumes: the first attempt's root was reused, not doubled
      expect(ownVolumes(await volumes(), a.uid)).toEqual([`${a.uid}-extra.qcow2`, `${a.uid}-root.qcow2`]);

      // given a VM whose domain definition is refused after its volumes were made
      const b = { uid: randomUUID(), name: `lv-remote-b-${run}`, namespace: "remote", kubeName: "b" };
      const remote = (session as unknown as { remote: LibvirtRemote }).remote;
      const refuse = vi.spyOn(remote, "defineXml").mockRejectedValueOnce(new Error("define refused (injected)"));
      await failure(session.createVm(b, spec([{ name: "root", image: "idle-vm" }, { name: "scratch", sizeGiB: 1 }])));
      refuse.mockRestore();
      expect(ownVolumes(await volumes(), b.uid)).toEqual([`${b.uid}-root.qcow2`, `${b.uid}-scratch.qcow2`]);
      // when that VM is deleted instead of retried, nothing of it stays (there is no domain to find them by)
      await session.deleteVm(b);
      expect(ownVolumes(await volumes(), b.uid)).toEqual([]);
      // and nothing else was touched: images, and A's volumes
      expect(await volumes()).toEqual(["idle-vm.qcow2", "idle-vm.vmlinuz", `${a.uid}-extra.qcow2`, `${a.uid}-root.qcow2`, "late.qcow2"].sort());
    } finally {
      await session.deleteVm(a);
    }
    expect(ownVolumes(await volumes(), a.uid)).toEqual([]);
  });
});
