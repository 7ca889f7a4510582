// Scenario: the libvirt driver passes the driver conformance suite against the real libvirtd —
// QEMU with domain type kvm (qemu:///system) and libvirt's test driver through the same daemon.
// Outside changes are made with virsh; the connection is dropped through a socket proxy, so the
// shared libvirtd is never restarted. VMs here are diskless-boot (SeaBIOS finds a blank disk and
// idles): they run, cheaply, without booting an OS — lifecycle and state are what is tested.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import type { HostConnection } from "../../drivers/contract/index.ts";
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
  describeDriverConformance({
    name: t.name,
    driver: () => driver,
    host: host(t.uri),
    prefix,
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
      cleanup: (p) => virsh.removePrefixed(p, diskDir),
    },
  });
}
