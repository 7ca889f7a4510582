// Scenario: the XenServer driver passes the driver conformance suite against the FAKE XAPI
// (tests/fakes/xapi: a JSON-RPC server written from the XenAPI reference — XenServer cannot
// run on this machine). Outside changes are made on the fake as `xe` would; the connection is
// dropped by stopping a second fake the droppable session talks to.
import { randomBytes } from "node:crypto";
import { afterAll } from "vitest";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import { XenServerDriver } from "../../drivers/xenserver/driver.ts";
import { FakeXapiAdmin } from "../fakes/xapi/outside.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { proxyFor } from "../harness/socket-proxy.ts";

const credentials = { username: "root", password: "conformance-xapi-secret" };
const fake = await FakeXapiServer.start(credentials);
const admin = new FakeXapiAdmin(fake);
const driver = new XenServerDriver();

afterAll(() => fake.stop());

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
    cleanup: (prefix) => Promise.resolve(admin.deletePrefixed(prefix)),
  },
});
