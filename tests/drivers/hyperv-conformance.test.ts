// Scenario: the Hyper-V driver passes the driver conformance suite against the FAKE WinRM
// endpoint (tests/fakes/winrm: WS-Management shell over HTTPS running a fake Hyper-V's
// PowerShell cmdlets — Hyper-V cannot run on this machine). Outside changes are made on the
// fake as Hyper-V Manager would; the connection is dropped by stopping a second fake.
import { randomBytes } from "node:crypto";
import { afterAll } from "vitest";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import { readIsoImage } from "../../drivers/cloud-init/nocloud.ts";
import type { VmIdentity } from "../../drivers/contract/index.ts";
import { HyperVDriver } from "../../drivers/hyperv/driver.ts";
import { driverSupport } from "../../src/api/driver-support.ts";
import { FakeHyperVAdmin } from "../fakes/winrm/outside.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";
import { proxyFor } from "../harness/socket-proxy.ts";

const credentials = { username: "Administrator", password: "conformance-winrm-secret" };
const fake = await FakeWinrmServer.start(credentials);
const admin = new FakeHyperVAdmin(fake);
// Poll fast: the fake answers in a millisecond, and the suite waits for outside changes.
const driver = new HyperVDriver({ pollIntervalMs: 100, operationTimeoutSeconds: 5 });

afterAll(() => fake.stop());

/** The VM as the fake Hyper-V holds it (what Get-VM and its device cmdlets show). */
function fakeVm(identity: VmIdentity) {
  const vm = [...fake.hyperv.vms.values()].find((v) => v.Name === identity.name);
  if (!vm) throw new Error(`the fake has no VM ${identity.name}`);
  return vm;
}

describeDriverConformance({
  name: "hyperv (FAKE WinRM)",
  driver: () => driver,
  host: { endpoint: fake.url, tls: { caPem: fake.caPem } },
  credentials,
  prefix: `ct-hyperv-${randomBytes(3).toString("hex")}`,
  spec: () => ({ cpus: 1, memoryMiB: 256, disks: [{ name: "root", sizeGiB: 1 }] }),
  eventTimeoutMs: 5_000,
  hooks: {
    createUnmanagedVm: (name) => Promise.resolve(admin.createRunningVm(name)),
    setPowerOutside: (id, state) => Promise.resolve(admin.setPower(id, state)),
    deleteOutside: (id) => Promise.resolve(admin.delete(id)),
    async droppableSession(signal) {
      const doomed = await FakeWinrmServer.start(credentials);
      const session = await driver.connect({ endpoint: doomed.url, tls: { caPem: doomed.caPem } }, credentials, signal);
      return { session, drop: () => doomed.stop(), dispose: () => doomed.stop().catch(() => undefined) };
    },
    async cuttableSession(signal) {
      const proxy = await proxyFor(fake.url);
      const session = await driver.connect({ endpoint: proxy.through(fake.url), tls: { caPem: fake.caPem } }, credentials, signal);
      return { session, cut: () => proxy.drop(), dispose: () => proxy.dispose() };
    },
    // the VM's VHDX files: <VirtualHardDiskPath>\\<vm>-<uid prefix>-<disk>.vhdx
    leftovers: (identity) => Promise.resolve([...fake.hyperv.files.keys()].filter((path) => path.includes(`${identity.name}-${identity.uid.slice(0, 8)}-`.toLowerCase()))),
    cloudInit: {
      // the ISO in the VM's DVD drive, read as cloud-init's NoCloud datasource would: label cidata, file user-data
      userData(identity) {
        const path = fakeVm(identity).DvdDrives[0];
        const bytes = path === undefined ? undefined : fake.hyperv.files.get(path.toLowerCase())?.bytes;
        if (bytes === undefined) return Promise.resolve(undefined);
        const iso = readIsoImage(bytes);
        return Promise.resolve(iso.label === "cidata" ? iso.files.get("user-data") : undefined);
      },
    },
    devices: {
      diskBuses: [...driverSupport.hyperv.diskBuses],
      bootOrder: true,
      nicModels: [...driverSupport.hyperv.nicModels],
      network: { network: "lab" },
      macPrefix: "00:15:5d",
      hostBus: () => "SCSI",
      hostModel: () => "Network Adapter",
      seen(identity) {
        const vm = fakeVm(identity);
        return Promise.resolve({
          disks: vm.HardDrives.map((path) => {
            const position = vm.BootOrder.indexOf(path);
            return { bus: "SCSI", bootOrder: position < 0 ? undefined : position + 1 };
          }),
          nics: vm.NetworkAdapters.map((a) => ({ model: "Network Adapter", mac: a.StaticMacAddress?.toLowerCase().replace(/(..)(?!$)/g, "$1:") })),
        });
      },
    },
    cleanup: (prefix) => Promise.resolve(admin.deletePrefixed(prefix)),
  },
});
