// Scenarios beyond the conformance suite for the XenServer driver, against the FAKE XAPI
// (tests/fakes/xapi): session expiry, host capacity, pool migration limits and credentials that
// never leak into errors.
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { errorKind, type Session, type VmEvent, type VmIdentity } from "../../drivers/contract/index.ts";
import { XenServerDriver } from "../../drivers/xenserver/driver.ts";
import { FakeXapiAdmin } from "../fakes/xapi/outside.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";

const credentials = { username: "root", password: "s3cret-xapi-Pa55word" };
const fake = await FakeXapiServer.start({ ...credentials, host: { cpus: 4, memoryGiB: 8 }, poolMembers: ["127.0.0.2"] });
const driver = new XenServerDriver();
const spec = { cpus: 1, memoryMiB: 256, disks: [{ name: "root" }] };

afterAll(() => fake.stop());

function identity(label: string): VmIdentity {
  return { uid: randomUUID(), name: `xen-${label}`, namespace: "team-a", kubeName: label };
}

async function nextEvent(events: AsyncIterator<VmEvent>): Promise<VmEvent> {
  const next = await events.next();
  if (next.done === true) throw new Error("the event stream ended");
  return next.value;
}

async function connected<T>(use: (session: Session) => Promise<T>): Promise<T> {
  const session = await driver.connect({ endpoint: fake.url }, credentials, AbortSignal.timeout(10_000));
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

describe("xenserver driver (FAKE XAPI)", () => {
  it("given the host forgot every session (toolstack restart), when the driver calls again, then it logs in again and succeeds", async () => {
    await connected(async (session) => {
      await session.listVms();
      const logins = fake.calls.filter((m) => m === "session.login_with_password").length;
      fake.invalidateSessions();
      await expect(session.listVms()).resolves.toBeInstanceOf(Array);
      expect(fake.calls.filter((m) => m === "session.login_with_password").length).toBe(logins + 1);
    });
  });

  it("given a spec with two blank disks and the default network, when the VM is created and started, then it has both disks, a NIC and an address; delete takes the disks too", async () => {
    await connected(async (session) => {
      const vm = identity("disks");
      const created = await session.createVm(vm, { ...spec, disks: [{ name: "root", sizeGiB: 2 }, { name: "data", sizeGiB: 5 }], power: { state: "Running" } });
      const record = fake.db.all("VM").find(([, r]) => r["uuid"] === created.externalId)?.[1];
      const vdis = (record?.["VBDs"] as string[]).map((vbd) => fake.db.get("VDI", String(fake.db.get("VBD", vbd)?.["VDI"])));
      expect(vdis.map((v) => v?.["virtual_size"])).toEqual([2 * 1024 ** 3, 5 * 1024 ** 3]);
      const vifs = (record?.["VIFs"] as string[]).map((vif) => fake.db.get("VIF", vif));
      expect(vifs.map((v) => v?.["network"])).toEqual([fake.refs.network]);
      expect(created.addresses).toEqual([expect.stringMatching(/^10\.0\.0\.\d+$/)]);
      expect((await session.listVms()).find((v) => v.externalId === created.externalId)?.addresses).toEqual(created.addresses);
      await session.deleteVm(vm);
      expect(fake.db.all("VDI")).toEqual([]);

      const noNic = await session.createVm(identity("nonic"), { ...spec, networks: [] });
      expect(fake.db.all("VM").find(([, r]) => r["uuid"] === noNic.externalId)?.[1]["VIFs"]).toEqual([]);
      await session.deleteVm({ ...identity("nonic"), uid: noNic.identity!.uid });
      const missing: unknown = await session.createVm(identity("badnet"), { ...spec, networks: [{ name: "n", network: "no-such-network" }] }).catch((e: unknown) => e);
      expect([errorKind(missing), (missing as { reason?: string }).reason]).toEqual(["not-found", "network-missing"]);
      new FakeXapiAdmin(fake).deletePrefixed("xen-badnet");
    });
  });

  it("given a clone left unprovisioned by a crash (a template carrying the uid), when the VM is created again, then that clone is finished, not cloned twice", async () => {
    await connected(async (session) => {
      const vm = identity("crashed");
      const half = fake.vms.clone(fake.refs.template, vm.name);
      fake.vms.addToOtherConfig(half, "io.omnivisor.uid", vm.uid);
      const created = await session.createVm(vm, spec);
      expect(created.externalId).toBe(fake.db.get("VM", half)?.["uuid"]);
      expect(fake.db.get("VM", half)?.["is_a_template"]).toBe(false);
      expect(fake.db.all("VM").filter(([, r]) => r["name_label"] === vm.name)).toHaveLength(1);
      await session.deleteVm(vm);
    });
  });

  it("given a VM bigger than the host's free memory, when it is started, then the error is capacity and the VM stays stopped", async () => {
    await connected(async (session) => {
      const big = identity("big");
      await session.createVm(big, { ...spec, memoryMiB: 16 * 1024 });
      const err: unknown = await session.setPower(big, { state: "Running" }).catch((e: unknown) => e);
      expect(errorKind(err), String(err)).toBe("capacity");
      expect((await session.observeVm(big))?.power).toBe("Stopped");
      await session.deleteVm(big);
    });
  });

  it("a running VM cannot be resized in place: invalid-transition, and the VM keeps its size", async () => {
    await connected(async (session) => {
      const vm = identity("resize");
      await session.createVm(vm, { ...spec, power: { state: "Running" } });
      const err: unknown = await session.updateVm(vm, { ...spec, cpus: 2 }).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("invalid-transition");
      expect((await session.observeVm(vm))?.cpus).toBe(1);
      await session.deleteVm(vm);
    });
  });

  it("given a pool of two hosts, when a running VM is migrated live to the other, then its task's progress shows meanwhile and it runs there once migrateVm returns", async () => {
    await connected(async (session) => {
      const vm = identity("pool-move");
      const created = await session.createVm(vm, { ...spec, power: { state: "Running" } });
      expect(await session.migrationProgress(vm)).toBeUndefined();
      let moved = false;
      const moving = session.migrateVm(vm, { host: { endpoint: "https://127.0.0.2" }, live: true }).finally(() => (moved = true));
      const seen: number[] = [];
      while (!moved) {
        const progress = await session.migrationProgress(vm);
        if (progress !== undefined) seen.push(progress.percent);
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(await moving).toEqual({}); // XAPI reports no downtime
      expect(seen.some((p) => p > 0 && p < 100), `progress seen: ${seen.join(", ")}`).toBe(true);
      const record = fake.db.all("VM").find(([, r]) => r["uuid"] === created.externalId)?.[1];
      expect(record?.["resident_on"]).toBe(fake.refs.members[0]);
      expect(record?.["current_operations"]).toEqual({});
      expect(fake.db.all("task").filter(([, t]) => t["name_label"] === "Async.VM.pool_migrate")).toEqual([]); // the driver destroyed its task
      expect((await session.observeVm(vm))?.power).toBe("Running");
      expect(await session.migrationProgress(vm)).toBeUndefined();
      await session.deleteVm(vm);
    });
  });

  it("given a pool migration in flight, when it is cancelled, then migrateVm fails as cancelled and the VM runs where it was", async () => {
    await connected(async (session) => {
      const vm = identity("pool-cancel");
      const created = await session.createVm(vm, { ...spec, power: { state: "Running" } });
      await session.cancelMigration(vm); // nothing runs: a no-op
      const moving = session.migrateVm(vm, { host: { endpoint: "https://127.0.0.2" }, live: true }).catch((e: unknown) => e);
      await expect.poll(async () => (await session.migrationProgress(vm))?.percent, { timeout: 5_000, interval: 20 }).toBeGreaterThan(0);
      await session.cancelMigration(vm);
      const err = await moving;
      expect(errorKind(err), String(err)).toBe("terminal");
      expect((err as { name?: string; reason?: string })).toMatchObject({ name: "MigrationCancelledError", reason: "migration-cancelled" });
      const record = fake.db.all("VM").find(([, r]) => r["uuid"] === created.externalId)?.[1];
      expect(record?.["resident_on"]).toBe(fake.refs.host);
      expect(record?.["power_state"]).toBe("Running");
      expect(await session.migrationProgress(vm)).toBeUndefined();
      await session.deleteVm(vm);
    });
  });

  it("given a pool watch that outlives its session (toolstack restart), when VMs change, then events keep coming", async () => {
    await connected(async (session) => {
      const watching = new AbortController();
      const stream = (await session.watch(watching.signal))[Symbol.asyncIterator]();
      const admin = new FakeXapiAdmin(fake);
      fake.invalidateSessions();
      const first = admin.createRunningVm("xen-after-restart-1");
      const seen: string[] = [];
      while (!seen.includes(first)) seen.push((await nextEvent(stream)).externalId);
      const second = admin.createRunningVm("xen-after-restart-2"); // the next event.from needs a new session
      while (!seen.includes(second)) seen.push((await nextEvent(stream)).externalId);
      watching.abort();
      admin.delete(first);
      admin.delete(second);
    });
  });

  it("migration stays inside the pool: to a host outside it is unsupported, to the host the VM is on is done", async () => {
    await connected(async (session) => {
      const vm = identity("migrate");
      await session.createVm(vm, { ...spec, power: { state: "Running" } });
      const outside: unknown = await session.migrateVm(vm, { host: { endpoint: "https://10.99.0.42" }, live: true }).catch((e: unknown) => e);
      expect(errorKind(outside)).toBe("unsupported");
      await session.migrateVm(vm, { host: { endpoint: fake.url }, live: true });
      expect((await session.observeVm(vm))?.power).toBe("Running");
      await session.deleteVm(vm);
    });
  });

  it("given a guest that ignores shutdown, when it is stopped TrySoft with a deadline, then it is stopped hard after the deadline", async () => {
    fake.vms.guestsIgnoreShutdown = true;
    try {
      await connected(async (session) => {
        const stubborn = identity("stubborn");
        await session.createVm(stubborn, { ...spec, power: { state: "Running" } });
        await session.setPower(stubborn, { state: "Stopped", mode: "TrySoft", deadlineSeconds: 1 });
        await expect.poll(async () => (await session.observeVm(stubborn))?.power, { timeout: 10_000, interval: 100 }).toBe("Stopped");
        const soft = fake.calls.lastIndexOf("Async.VM.clean_shutdown");
        expect(soft).toBeGreaterThanOrEqual(0);
        expect(fake.calls.indexOf("VM.hard_shutdown", soft), "a hard shutdown followed the ignored clean one").toBeGreaterThan(soft);
        await session.deleteVm(stubborn);
      });
    } finally {
      fake.vms.guestsIgnoreShutdown = false;
    }
  });

  it("given the event feed fell behind (EVENTS_LOST), when it resumes, then it reports what changed meanwhile", async () => {
    await connected(async (session) => {
      const watching = new AbortController();
      const stream = (await session.watch(watching.signal))[Symbol.asyncIterator]();
      fake.loseEvents();
      const uuid = new FakeXapiAdmin(fake).createRunningVm("xen-while-behind");
      const first = await stream.next();
      const second = await stream.next();
      watching.abort();
      expect([first.value, second.value]).toMatchObject([
        { type: "defined", externalId: uuid, detail: "missed while the feed was behind" },
        { type: "started", externalId: uuid },
      ]);
      new FakeXapiAdmin(fake).delete(uuid);
    });
  });

  it("reports host capacity and usage from host, host_metrics and host_cpu", async () => {
    const host = await connected((session) => session.observeHost());
    expect(host).toMatchObject({ reachable: true, hypervisor: "XCP-ng", version: "8.3.0", capacity: { cpus: 4, memoryMiB: 8192 } });
    expect(host.usage?.memoryUsedMiB).toBeGreaterThanOrEqual(1024); // dom0's share
  });

  describe("credentials never appear in errors", () => {
    it("a wrong password fails as terminal, and the error does not carry the password", async () => {
      const wrong = { username: "root", password: "wr0ng-Pa55word-do-not-leak" };
      const err: unknown = await driver.connect({ endpoint: fake.url }, wrong, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("terminal");
      expect((err as { reason?: string }).reason).toBe("session-authentication-failed");
      expect(String((err as Error).message)).not.toContain(wrong.password);
      expect(inspect(err, { depth: 10 })).not.toContain(wrong.password);
    });

    it("an error after login (host gone) does not carry the password either", async () => {
      const doomed = await FakeXapiServer.start(credentials);
      const session = await driver.connect({ endpoint: doomed.url }, credentials, AbortSignal.timeout(10_000));
      await doomed.stop();
      const err: unknown = await session.createVm(identity("gone"), spec).catch((e: unknown) => e);
      await session.close();
      expect(errorKind(err)).toBe("retryable");
      expect(inspect(err, { depth: 10 })).not.toContain(credentials.password);
    });

    it("missing credentials fail as terminal before anything is sent", async () => {
      const err: unknown = await driver.connect({ endpoint: fake.url }, undefined, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("terminal");
      const inUrl: unknown = await driver.connect({ endpoint: `http://root:${credentials.password}@127.0.0.1:1` }, credentials, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(errorKind(inUrl)).toBe("terminal");
      expect(String((inUrl as Error).message)).not.toContain(credentials.password);
    });
  });
});
