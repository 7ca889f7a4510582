// Scenarios for what the ESXi driver adds beyond the conformance suite: TLS trust (pinned
// thumbprint, CA, explicit insecure, and refusal otherwise), an expired vim25 session that the
// driver logs back into, credentials that never show in errors, and host capacity as ESXi reports it.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostConnection, Session } from "../../drivers/contract/index.ts";
import { errorKind } from "../../drivers/contract/index.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { readMoRef, VimClient } from "../../drivers/esxi/vim25/client.ts";
import { retrieve } from "../../drivers/esxi/vim25/property-collector.ts";
import { readThumbprint } from "../../drivers/esxi/vim25/tls.ts";
import { child, textAt } from "../../drivers/esxi/vim25/xml.ts";
import { EventRecorder } from "../../drivers/conformance/events.ts";
import { vcsimUrl } from "../harness/services.ts";
import { anyCredentials, govc, PrivateVcsim, serverCertificatePem, sharedVcsim, vmExternalId } from "./esxi-vcsim.ts";

const driver = new EsxiDriver();
const connect = (host: HostConnection, credentials = anyCredentials) => driver.connect(host, credentials, AbortSignal.timeout(30_000));
let pinned: HostConnection;

beforeAll(async () => {
  pinned = await sharedVcsim();
});

describe("TLS trust", () => {
  it("given no pinned thumbprint, no CA and no explicit insecure, when connecting, then the host is refused with a clear error", async () => {
    const err: unknown = await connect({ endpoint: vcsimUrl }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe("terminal");
    expect((err as { reason?: string }).reason).toBe("tls-untrusted");
    expect(String(err)).toMatch(/not trusted.*thumbprint/);
  });

  it("given a thumbprint that is not the host's, when connecting, then the host is refused", async () => {
    const err: unknown = await connect({ endpoint: vcsimUrl, tls: { thumbprint: "00".repeat(32) } }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe("terminal");
    expect((err as { reason?: string }).reason).toBe("tls-untrusted");
    expect(String(err)).toContain("does not match the pinned thumbprint");
  });

  it("given the host's certificate as CA, or an explicit insecure Host, when connecting, then the session works", async () => {
    for (const tls of [{ caPem: await serverCertificatePem(vcsimUrl) }, { insecureSkipVerify: true }]) {
      const session = await connect({ endpoint: vcsimUrl, tls });
      try {
        expect((await session.observeHost()).reachable).toBe(true);
      } finally {
        await session.close();
      }
    }
  });
});

describe("vim25 session", () => {
  it("given a logged-in client whose session the server ended, when it reads again, then it logs in again and the read succeeds", async () => {
    const u = new URL(vcsimUrl);
    const client = new VimClient({ url: vcsimUrl, trust: { thumbprint: await readThumbprint(u.hostname, Number(u.port)) }, username: "relogin", password: "x" });
    await client.connect();
    try {
      const root = { objects: [client.content.rootFolder] };
      expect(await retrieve(client, "Folder", ["name"], root)).toHaveLength(1);
      // Expired, as an idle ESXi session would be: reads report it in missingSet, other calls as a SOAP fault.
      await client.invoke("Logout", client.content.sessionManager, {});
      expect(await retrieve(client, "Folder", ["name"], root)).toHaveLength(1);
      await client.invoke("Logout", client.content.sessionManager, {});
      const collector = await client.invoke("CreatePropertyCollector", client.content.propertyCollector, {});
      await client.invoke("DestroyPropertyCollector", readMoRef(child(collector, "returnval"))!, {});
    } finally {
      await client.close();
    }
  });

  it("given a driver session terminated by another admin, when listing VMs and changing a VM, then the driver logs in again and the watch goes on", async () => {
    const user = `esxi-terminated-${randomBytes(3).toString("hex")}`;
    const vmName = `esxi-relogin-${randomBytes(3).toString("hex")}`;
    await govc(vcsimUrl, ["vm.create", "-on=true", "-m=64", "-c=1", "-g=otherGuest64", vmName]);
    const externalId = await vmExternalId(vcsimUrl, vmName);
    const session = await connect(pinned, { username: user, password: "x" });
    const watching = new AbortController();
    const events = new EventRecorder();
    try {
      events.start(await session.watch(watching.signal));
      await terminateSessionsOf(user);
      expect((await session.listVms()).map((v) => v.externalId)).toContain(externalId);
      // The first change may still ride the poll that was in flight; the second needs the new feed
      // the driver opens once it finds its collector gone with the old session.
      await govc(vcsimUrl, ["vm.power", "-off", "-force", vmName]);
      await events.waitFor(externalId, ["stopped"], 20_000);
      await govc(vcsimUrl, ["vm.power", "-on", vmName]);
      await events.waitFor(externalId, ["stopped", "started"], 20_000);
    } finally {
      watching.abort();
      await events.done();
      await session.close();
      await govc(vcsimUrl, ["vm.destroy", vmName]);
    }
  });
});

/** Ends every vim25 session of `user`, as an admin (or ESXi's idle timeout) would. */
async function terminateSessionsOf(user: string): Promise<void> {
  const admin = new VimClient({ url: vcsimUrl, trust: { insecure: true }, username: "admin", password: "x" });
  await admin.connect();
  try {
    const [sm] = await retrieve(admin, "SessionManager", ["sessionList"], { objects: [admin.content.sessionManager] });
    const sessions = (sm?.props.get("sessionList")?.children ?? []).filter((s) => textAt(s, "userName") === user);
    expect(sessions.length).toBeGreaterThan(0);
    await admin.invoke("TerminateSession", admin.content.sessionManager, { sessionId: sessions.map((s) => textAt(s, "key") ?? "") });
  } finally {
    await admin.close();
  }
}

describe("credentials", () => {
  const username = "esxi-admin";
  const password = `S3cret-${randomBytes(4).toString("hex")}`;
  let vcsim: PrivateVcsim;

  beforeAll(async () => {
    vcsim = await PrivateVcsim.start(["-username", username, "-password", password]);
  });
  afterAll(async () => {
    await vcsim.kill();
  });

  it("given a wrong password, when connecting, then the error is terminal and names neither the user nor any password", async () => {
    const u = new URL(vcsim.url);
    const host: HostConnection = { endpoint: vcsim.url, tls: { thumbprint: await readThumbprint(u.hostname, Number(u.port)) } };
    const wrong = `Wrong-${randomBytes(4).toString("hex")}`;
    const err: unknown = await connect(host, { username, password: wrong }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe("terminal");
    expect((err as { reason?: string }).reason).toBe("invalid-login");
    const shown = `${String(err)} ${inspect(err, { depth: 10 })} ${JSON.stringify(err)}`;
    expect(shown).not.toContain(wrong);
    expect(shown).not.toContain(username);

    const session: Session = await connect(host, { username, password });
    try {
      expect((await session.observeHost()).reachable).toBe(true);
      expect(inspect(session, { depth: 10 })).not.toContain(password);
    } finally {
      await session.close();
    }
  });
});

describe("host", () => {
  it("given the simulated ESXi host, when observed, then capacity is what the host reports and clone and live migration are not offered", async () => {
    const session = await connect(pinned);
    try {
      const host = await session.observeHost();
      const info = JSON.parse(await govc(vcsimUrl, ["host.info", "-json"])) as {
        hostSystems: { summary: { hardware: { memorySize: number; numCpuThreads: number } } }[];
      };
      const hw = info.hostSystems[0]!.summary.hardware;
      expect(host.capacity).toMatchObject({ cpus: hw.numCpuThreads, memoryMiB: Math.floor(hw.memorySize / 1024 / 1024) });
      expect(host.hypervisor).toBe("esxi");
      expect(session.capabilities()).toMatchObject({ clone: false, liveMigration: false });
      const err: unknown = await session.migrateVm({ uid: "x", name: "x" }, { host: pinned, live: true }).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("unsupported");
    } finally {
      await session.close();
    }
  });
});

describe("a VM's files left by a create that died", () => {
  /** The local directory behind a vcsim datastore (vcsim keeps datastores in plain directories). */
  async function datastoreDir(name: string): Promise<string> {
    const info = JSON.parse(await govc(vcsimUrl, ["datastore.info", "-json", name])) as { datastores: { info: { url: string } }[] };
    return info.datastores[0]!.info.url;
  }

  it("given a .vmx no VM uses, minutes old, when the VM is created, then the leftover is removed and one VM is made; a fresh one is waited for instead", async () => {
    const session = await connect(pinned);
    const name = `left-${randomBytes(3).toString("hex")}`;
    const identity = { uid: randomUUID(), name, namespace: "esxi-session", kubeName: name };
    const spec = { cpus: 1, memoryMiB: 64, disks: [], networks: [], power: { state: "Stopped" as const } };
    const dir = join(await datastoreDir("LocalDS_0"), name);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${name}.vmx`), "config.version = \"8\"\n");
      // fresh: it may be another writer's create still under way — waited for, not removed
      const fresh: unknown = await session.createVm(identity, spec).catch((e: unknown) => e);
      expect(errorKind(fresh), String(fresh)).toBe("retryable");
      expect((fresh as { reason?: string }).reason).toBe("in-progress");
      expect(existsSync(join(dir, `${name}.vmx`)), "a fresh .vmx is left alone").toBe(true);

      const old = new Date(Date.now() - 10 * 60_000);
      await utimes(join(dir, `${name}.vmx`), old, old);
      const cleared: unknown = await session.createVm(identity, spec).catch((e: unknown) => e);
      expect(errorKind(cleared), String(cleared)).toBe("retryable");
      expect((cleared as { reason?: string }).reason).toBe("leftover-removed");
      const vm = await session.createVm(identity, spec);
      expect(vm.identity?.uid).toBe(identity.uid);
      expect((await session.listVms()).filter((v) => v.name === name).map((v) => v.externalId)).toEqual([vm.externalId]);
    } finally {
      await session.deleteVm(identity).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      await session.close();
    }
  });
});
