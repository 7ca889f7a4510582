// Scenario: the ESXi driver passes the driver conformance suite against vcsim in ESX mode (a
// standalone ESXi 6.5 simulator speaking real vim25 SOAP), with TLS pinned to vcsim's certificate.
// Outside changes are made with govc; the dropped connection is a private vcsim we kill, so the
// shared one is never restarted.
import { randomBytes } from "node:crypto";
import { beforeAll, expect } from "vitest";
import type { HostConnection } from "../../drivers/contract/index.ts";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { diskFolder } from "../../drivers/esxi/images.ts";
import { vcsimUrl } from "../harness/services.ts";
import { proxyFor } from "../harness/socket-proxy.ts";
import { driverSupport } from "../../src/api/driver-support.ts";
import { anyCredentials, govc, pinnedHost, PrivateVcsim, sharedVcsim, vmExternalId, vmPath } from "./esxi-vcsim.ts";

const driver = new EsxiDriver();
// Filled in beforeAll (before the suite connects): the thumbprint is read from vcsim over TLS.
const host: HostConnection = { endpoint: vcsimUrl };

beforeAll(async () => {
  Object.assign(host, await sharedVcsim());
});

interface GovcDevice {
  type: string;
  key: number;
  controllerKey?: number;
  busNumber?: number;
  macAddress?: string;
}
interface GovcVm {
  config: { bootOptions?: { bootOrder?: { deviceKey: number }[] }; extraConfig: { key: string; value: string }[] };
}

/** The VM's configuration as vcsim serves it over vim25 (govc vm.info -json), not as the driver reads it. */
async function vmConfig(name: string): Promise<GovcVm["config"]> {
  const out = JSON.parse(await govc(vcsimUrl, ["vm.info", "-json", name])) as { virtualMachines: GovcVm[] | null };
  const vm = out.virtualMachines?.[0];
  if (!vm) throw new Error(`govc finds no VM ${name}`);
  return vm.config;
}

async function onVm(externalId: string, args: (path: string) => string[]): Promise<void> {
  const path = await vmPath(vcsimUrl, externalId);
  if (path) await govc(vcsimUrl, args(path));
}

describeDriverConformance({
  name: `esxi (vcsim ${vcsimUrl})`,
  driver: () => driver,
  host,
  credentials: anyCredentials,
  prefix: `ct-esxi-${randomBytes(3).toString("hex")}`,
  // govmomi 0.46.3's simulator fills a VM's summary.quickStats with guestHeartbeatStatus only
  noVmUsage: "vcsim publishes no per-VM quickStats (no overallCpuUsage, hostMemoryUsage or guestMemoryUsage)",
  spec: () => ({ cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }] }),
  hooks: {
    async createUnmanagedVm(name) {
      await govc(vcsimUrl, ["vm.create", "-on=true", "-m=64", "-c=1", "-g=otherGuest64", name]);
      return vmExternalId(vcsimUrl, name);
    },
    setPowerOutside: (id, state) =>
      onVm(id, (path) => ["vm.power", state === "Running" ? "-on" : state === "Paused" ? "-suspend" : "-off", "-force", path]),
    deleteOutside: (id) => onVm(id, (path) => ["vm.destroy", path]),
    async droppableSession(signal) {
      const vcsim = await PrivateVcsim.start();
      const session = await driver.connect(await pinnedHost(vcsim.url), anyCredentials, signal);
      return { session, drop: () => vcsim.kill(), dispose: () => vcsim.kill() };
    },
    async cuttableSession(signal) {
      const proxy = await proxyFor(vcsimUrl);
      const session = await driver.connect({ ...host, endpoint: proxy.through(vcsimUrl) }, anyCredentials, signal);
      return { session, cut: () => proxy.drop(), dispose: () => proxy.dispose() };
    },
    // the VM's folder and its copied disks (omnivisor-disks/<uid>), as govc lists the datastore
    async leftovers(identity) {
      const left: string[] = [];
      for (const dir of [identity.name, `${diskFolder}/${identity.uid}`]) {
        const listed = await govc(vcsimUrl, ["datastore.ls", dir]).catch((err: unknown) => {
          if (/not ?found/i.test(String(err))) return undefined; // nothing there (govc: "not found", or vim25 FileNotFound when even the parent folder is gone)
          throw err;
        });
        if (listed !== undefined) left.push(`${dir}: ${listed.trim() || "(empty folder)"}`);
      }
      return left;
    },
    cloudInit: {
      // cloud-init's VMware datasource reads guestinfo.userdata, base64 as guestinfo.userdata.encoding says
      async userData(identity) {
        const extra = new Map((await vmConfig(identity.name)).extraConfig.map((o) => [o.key, o.value]));
        const data = extra.get("guestinfo.userdata");
        if (data === undefined) return undefined;
        expect(extra.get("guestinfo.userdata.encoding")).toBe("base64");
        return Buffer.from(data, "base64").toString("utf8");
      },
    },
    devices: {
      diskBuses: [...driverSupport.esxi.diskBuses],
      bootOrder: true,
      nicModels: [...driverSupport.esxi.nicModels],
      network: {},
      macPrefix: "00:50:56",
      hostBus: (bus) => ({ virtio: "ParaVirtualSCSIController", scsi: "VirtualLsiLogicSASController", sata: "VirtualAHCIController", ide: "VirtualIDEController" })[bus],
      hostModel: (model) => (model === "e1000" ? "VirtualE1000" : "VirtualVmxnet3"),
      async seen(identity) {
        const config = await vmConfig(identity.name);
        // device.info names each device's vim25 type (vm.info's JSON leaves it out)
        const { devices } = JSON.parse(await govc(vcsimUrl, ["device.info", "-json", "-vm", identity.name])) as { devices: GovcDevice[] };
        const boot = (config.bootOptions?.bootOrder ?? []).map((b) => b.deviceKey);
        return {
          disks: devices
            .filter((d) => d.type === "VirtualDisk")
            .map((d) => {
              const position = boot.indexOf(d.key);
              return { bus: devices.find((c) => c.key === d.controllerKey)?.type ?? "", bootOrder: position < 0 ? undefined : position + 1 };
            }),
          nics: devices.filter((d) => d.macAddress !== undefined).map((d) => ({ model: d.type, mac: d.macAddress })),
        };
      },
    },
    async cleanup(prefix) {
      // `govc ls`, not `govc find`: find makes a ContainerView, which can deadlock vcsim under load.
      const paths = (await govc(vcsimUrl, ["ls", "/ha-datacenter/vm"])).split("\n").filter((p) => p.split("/").pop()?.startsWith(prefix));
      if (paths.length) await govc(vcsimUrl, ["vm.destroy", ...paths]);
    },
  },
});
