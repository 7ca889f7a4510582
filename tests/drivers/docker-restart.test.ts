// Scenarios: the status watcher keeps following a Docker host through a daemon crash and a cut
// connection, and after reconnecting its view matches the host — nothing changed while it was
// away is missed. The crash uses a private dockerd (tests/harness/private-dockerd.ts), never the
// shared one; the cut connection goes through a socket proxy to the shared dockerd.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Session, VmIdentity, VmSpec } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { SocketProxy } from "../harness/socket-proxy.ts";
import { DockerCli } from "./docker-cli.ts";
import { WatchedHost } from "./watched-host.ts";

const prefix = `rs-docker-${randomBytes(3).toString("hex")}`;
const spec: VmSpec = { cpus: 0.5, memoryMiB: 32, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] }, power: { state: "Running" } };
const identity = (label: string): VmIdentity => ({ uid: randomUUID(), name: `${prefix}-${label}`, namespace: "restart", kubeName: label });
const driver = new DockerDriver();

/** The watcher's view and the host's own list agree on every VM named with our prefix. */
async function expectViewMatchesHost(watched: WatchedHost, session: Session): Promise<void> {
  const host = (await session.listVms()).filter((v) => v.name.startsWith(prefix)).map((v) => `${v.name}=${v.power}`).sort();
  const view = watched.watcher.known.all().filter((v) => v.name.startsWith(prefix)).map((v) => `${v.name}=${v.power}`).sort();
  expect(view).toEqual(host);
}

describe("dockerd crashes and restarts mid-watch", () => {
  let dockerd: PrivateDockerd;
  let session: Session;
  let watched: WatchedHost | undefined;

  beforeAll(async () => {
    await requireDocker();
    dockerd = await PrivateDockerd.start();
    session = await driver.connect({ endpoint: dockerd.endpoint }, undefined, AbortSignal.timeout(10_000));
  });

  afterAll(async () => {
    await watched?.stop();
    await session?.close();
    await dockerd?.stop(); // removes its containers, data and bridge; checks docker0 survived
  });

  it("given a watched VM running, when dockerd is killed and restarted, then the watch resumes and the VM is reported stopped", async () => {
    const a = identity("a");
    const vm = await session.createVm(a, spec);
    watched = new WatchedHost({ endpoint: dockerd.endpoint });
    const w = watched;
    await w.eventually(() => expect(w.watcher.known.get(vm.externalId)?.power).toBe("Running"));

    await dockerd.crash();
    await w.eventually(() => expect(w.connected).toBe(false));
    await dockerd.restart(); // dockerd stops containers without a restart policy when it comes back

    await w.eventually(() => expect(w.resyncs.length).toBeGreaterThanOrEqual(2));
    await w.eventually(() => expect(w.watcher.known.get(vm.externalId)?.power).toBe("Stopped"));
    // dockerd stopped it while coming back, before it answered: only the re-list can tell.
    expect(w.eventsFor(vm.externalId)).toContain("stopped (missed)");
    await expectViewMatchesHost(w, session);

    // The stream is live again: a change after the restart arrives as an ordinary event.
    await session.setPower(a, { state: "Running" });
    await w.eventually(() => expect(w.eventsFor(vm.externalId).at(-1)).toBe("started"));
    await expectViewMatchesHost(w, session);
  });
});

describe("the connection to dockerd is cut while VMs change", () => {
  const cli = new DockerCli(dockerSocket);
  let proxy: SocketProxy;
  let session: Session;
  let watched: WatchedHost | undefined;

  beforeAll(async () => {
    await requireDocker();
    proxy = await SocketProxy.start(dockerSocket);
    session = await driver.connect({ endpoint: `unix://${dockerSocket}` }, undefined, AbortSignal.timeout(10_000));
  });

  afterAll(async () => {
    await watched?.stop();
    await session?.close();
    await proxy?.dispose();
    await cli.removePrefixed(prefix);
  });

  it("given a watcher through a proxy, when VMs are stopped, deleted and created while it is cut off, then each change is reported after reconnect", async () => {
    const a = await session.createVm(identity("cut-a"), spec);
    const b = await session.createVm(identity("cut-b"), spec);
    watched = new WatchedHost({ endpoint: `unix://${proxy.path}` });
    const w = watched;
    await w.eventually(() => expect(w.watcher.known.get(b.externalId)?.power).toBe("Running"));

    await proxy.drop();
    await w.eventually(() => expect(w.connected).toBe(false));
    await cli.setPower(a.externalId, "Stopped");
    await cli.remove(b.externalId);
    const c = await cli.runUnmanaged(`${prefix}-cut-c`);
    await proxy.resume();

    await w.eventually(() => {
      expect(w.eventsFor(a.externalId)).toContain("stopped (missed)");
      expect(w.eventsFor(b.externalId)).toContain("deleted (missed)");
      expect(w.eventsFor(c)).toEqual(expect.arrayContaining(["defined (missed)", "started (missed)"]));
    });
    await expectViewMatchesHost(w, session);
    await cli.remove(c);
    await w.eventually(() => expect(w.eventsFor(c).at(-1)).toBe("deleted"));
  });
});
