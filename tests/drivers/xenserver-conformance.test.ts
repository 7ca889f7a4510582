// Scenario: the XenServer driver passes the driver conformance suite against the FAKE XAPI
// (tests/fakes/xapi: a JSON-RPC server written from the XenAPI reference — XenServer cannot
// run on this machine). Outside changes are made on the fake as `xe` would; the connection is
// dropped by stopping a second fake the droppable session talks to.
import { randomBytes } from "node:crypto";
import { afterAll } from "vitest";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import type { VmIdentity } from "../../drivers/contract/index.ts";
import { XenServerDriver } from "../../drivers/xenserver/driver.ts";
import { driverSupport } from "../../src/api/driver-support.ts";
import { FakeXapiAdmin } from "../fakes/xapi/outside.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { proxyFor } from "../harness/socket-proxy.ts";

const credentials = { username: "root", password: "conformance-xapi-secret" };
const fake = await FakeXapiServer.start(credentials);
const admin = new FakeXapiAdmin(fake);
const driver = new XenServerDriver();

afterAll(() => fake.stop());

/** The VM's record in the fake's database (what `xe vm-param-list` shows). */
function vmRecord(identity: VmIdentity): Record<string, unknown> {
  const found = fake.db.all("VM").find(([, r]) => r["name_label"] === identity.name);
  if (!found) throw new Error(`the fake has no VM ${identity.name}`);
  return found[1];
}

describeDriverConformance({
  name: "xenserver (FAKE XAPI)",
  driver: () => driver,
  host: { endpoint: fake.url },
  credentials,
  prefix: `ct-xen-${randomBytes(3).toString("hex")}`,
  spec: () => ({ cpus: 1, memoryMiB: 256, disks: [{ name: "root", sizeGiB: 1 }] }),
  eventTimeoutMs: 5_000,
  hooks: {
    createUnmanagedVm: (name) => Promise.resolve(admin.createRunningVm(name)),
    setPowerOutside: (id, state) => Promise.resolve(admin.setPower(id, state)),
    deleteOutside: (id) => Promise.resolve(admin.delete(id)),
    async droppableSession(signal) {
      const doomed = await FakeXapiServer.start(credentials);
      const session = await driver.connect({ endpoint: doomed.url }, credentials, signal);
      return { session, drop: () => doomed.stop(), dispose: () => doomed.stop().catch(() => undefined) };
    },
    async cuttableSession(signal) {
      const proxy = await proxyFor(fake.url);
      const session = await driver.connect({ endpoint: proxy.through(fake.url) }, credentials, signal);
      return { session, cut: () => proxy.drop(), dispose: () => proxy.dispose() };
    },
    // the VM's disks: VDIs named "<VM name> <device>" (as the fake's install makes them)
    leftovers: (identity) => Promise.resolve(fake.db.all("VDI").map(([, r]) => String(r["name_label"])).filter((name) => name.startsWith(`${identity.name} `))),
    cloudInit: {
      // xenstore-data vm-data/user-data, base64, as XAPI writes it into the guest's xenstore
      userData(identity) {
        const value = (vmRecord(identity)["xenstore_data"] as Record<string, string>)["vm-data/user-data"];
        return Promise.resolve(value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8"));
      },
    },
    devices: {
      diskBuses: [...driverSupport.xenserver.diskBuses],
      bootOrder: true,
      nicModels: [...driverSupport.xenserver.nicModels],
      network: { network: "xenbr0" },
      macPrefix: "c6:1e:00",
      hostBus: () => "VBD",
      hostModel: () => undefined, // a VIF has no model in XAPI: it is a netfront device
      seen(identity) {
        const vm = vmRecord(identity);
        // disks in userdevice order: the first boots (bootable), the others follow
        const vbds = (vm["VBDs"] as string[]).map((ref) => fake.db.get("VBD", ref)!).sort((a, b) => Number(a["userdevice"]) - Number(b["userdevice"]));
        const vifs = (vm["VIFs"] as string[]).map((ref) => fake.db.get("VIF", ref)!).sort((a, b) => Number(a["device"]) - Number(b["device"]));
        return Promise.resolve({
          disks: vbds.map((v, i) => ({ bus: "VBD", bootOrder: i === 0 && v["bootable"] !== true ? undefined : i + 1 })),
          nics: vifs.map((v) => ({ mac: String(v["MAC"]) })),
        });
      },
    },
    cleanup: (prefix) => Promise.resolve(admin.deletePrefixed(prefix)),
  },
});
