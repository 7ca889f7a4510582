// Scenario: the libvirt driver passes the driver conformance suite against the real libvirtd —
// QEMU with domain type kvm (qemu:///system) and libvirt's test driver through the same daemon.
// Outside changes are made with virsh; the connection is dropped through a socket proxy, so the
// shared libvirtd is never restarted. VMs here are diskless-boot (SeaBIOS finds a blank disk and
// idles): they run, cheaply, without booting an OS — lifecycle and state are what is tested.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { readIsoImage } from "../../drivers/cloud-init/nocloud.ts";
import { describeDriverConformance, type DeviceValues } from "../../drivers/conformance/suite.ts";
import type { HostConnection, VmIdentity } from "../../drivers/contract/index.ts";
import { parseDomainXml } from "../../drivers/libvirt/domain-xml.ts";
import { driverSupport } from "../../src/api/driver-support.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { defaultPoolName } from "../../drivers/libvirt/volumes.ts";
import { requireLibvirt } from "../harness/services.ts";
import { SocketProxy } from "../harness/socket-proxy.ts";
import { Virsh } from "./libvirt-virsh.ts";

const execute = promisify(execFile);
const socket = "/run/libvirt/libvirt-sock";
const run = randomBytes(3).toString("hex");
const diskDir = join(tmpdir(), `omni-lv-conf-${run}`);
const driver = new LibvirtDriver();

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(diskDir, { recursive: true });
});
afterAll(async () => {
  await rm(diskDir, { recursive: true, force: true });
});

const targets: { name: string; uri: string; proxied: (proxySocket: string) => string }[] = [
  { name: "libvirt qemu:///system (kvm)", uri: "qemu:///system", proxied: (p) => `qemu+unix:///system?socket=${p}` },
  { name: "libvirt test driver via libvirtd", uri: `test+unix:///default?socket=${socket}`, proxied: (p) => `test+unix:///default?socket=${p}` },
];

for (const t of targets) {
  const virsh = new Virsh(t.uri);
  const prefix = `ct-lv-${t.uri.startsWith("test") ? "test" : "kvm"}-${run}`;
  const host = (endpoint: string): HostConnection => ({ endpoint, libvirt: { virtType: "kvm", defaultNetwork: "default" } });
  // the domain as virsh shows it (dumpxml), not as the driver reads it back
  const domain = async (identity: VmIdentity) => parseDomainXml(await virsh.exec("dumpxml", identity.name));
  const devices: DeviceValues = {
    diskBuses: [...driverSupport.libvirt.diskBuses],
    bootOrder: true,
    nicModels: [...driverSupport.libvirt.nicModels],
    network: { network: "default" },
    macPrefix: "52:54:00",
    hostBus: (bus) => bus,
    hostModel: (model) => model,
    async seen(identity) {
      const facts = await domain(identity);
      return { disks: facts.disks.filter((d) => d.device === "disk").map((d) => ({ bus: d.bus, bootOrder: d.bootOrder })), nics: facts.nics };
    },
  };
  describeDriverConformance({
    name: t.name,
    driver: () => driver,
    host: host(t.uri),
    prefix,
    ...(t.uri.startsWith("test") ? { noVmUsage: "libvirt's test driver keeps no per-domain CPU time or balloon stats" } : {}),
    spec: () => ({ cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], console: true }),
    hooks: {
      createUnmanagedVm: (name) => virsh.runUnmanaged(name),
      setPowerOutside: (id, state) => virsh.setPower(id, state),
      deleteOutside: (id) => virsh.remove(id),
      async droppableSession(signal) {
        const proxy = await SocketProxy.start(socket);
        const session = await driver.connect(host(t.proxied(proxy.path)), undefined, signal);
        return { session, drop: () => proxy.drop(), dispose: () => proxy.dispose() };
      },
      async cuttableSession(signal) {
        const proxy = await SocketProxy.start(socket);
        const session = await driver.connect(host(t.proxied(proxy.path)), undefined, signal);
        return { session, cut: () => proxy.drop(), dispose: () => proxy.dispose() };
      },
      leftovers: t.uri.startsWith("test")
        ? { notApplicable: "libvirt's test driver has no storage: the driver makes no volumes on a simulated host" }
        : async (identity) => {
            const { stdout } = await execute("virsh", ["-q", "-c", t.uri, "vol-list", defaultPoolName]);
            return stdout.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter((name) => name.includes(identity.uid));
          },
      cloudInit: t.uri.startsWith("test")
        ? { notApplicable: "libvirt's test driver has no storage: the seed CD-ROM is in the domain, its volume is not made" }
        : {
            async userData(identity) {
              // the seed CD-ROM's file on the host, read as an ISO9660 image
              const seed = (await domain(identity)).disks.find((d) => d.device === "cdrom")?.file;
              return seed === undefined ? undefined : readIsoImage(await readFile(seed)).files.get("user-data");
            },
          },
      devices,
      cleanup: (p) => virsh.removePrefixed(p, diskDir),
    },
  });
}
