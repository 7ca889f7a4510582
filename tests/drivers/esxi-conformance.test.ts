// Scenario: the ESXi driver passes the driver conformance suite against vcsim in ESX mode (a
// standalone ESXi 6.5 simulator speaking real vim25 SOAP), with TLS pinned to vcsim's certificate.
// Outside changes are made with govc; the dropped connection is a private vcsim we kill, so the
// shared one is never restarted.
import { randomBytes } from "node:crypto";
import { beforeAll } from "vitest";
import type { HostConnection } from "../../drivers/contract/index.ts";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { diskFolder } from "../../drivers/esxi/images.ts";
import { vcsimUrl } from "../harness/services.ts";
import { proxyFor } from "../harness/socket-proxy.ts";
import { anyCredentials, govc, pinnedHost, PrivateVcsim, sharedVcsim, vmExternalId, vmPath } from "./esxi-vcsim.ts";

const driver = new EsxiDriver();
// Filled in beforeAll (before the suite connects): the thumbprint is read from vcsim over TLS.
const host: HostConnection = { endpoint: vcsimUrl };

beforeAll(async () => {
  Object.assign(host, await sharedVcsim());
});

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
          if (/not found/i.test(String(err))) return undefined; // nothing there
          throw err;
        });
        if (listed !== undefined) left.push(`${dir}: ${listed.trim() || "(empty folder)"}`);
      }
      return left;
    },
    async cleanup(prefix) {
      // `govc ls`, not `govc find`: find makes a ContainerView, which can deadlock vcsim under load.
      const paths = (await govc(vcsimUrl, ["ls", "/ha-datacenter/vm"])).split("\n").filter((p) => p.split("/").pop()?.startsWith(prefix));
      if (paths.length) await govc(vcsimUrl, ["vm.destroy", ...paths]);
    },
  },
});
