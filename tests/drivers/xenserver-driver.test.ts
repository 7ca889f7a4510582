// Scenarios beyond the conformance suite for the XenServer driver, against the FAKE XAPI
// (tests/fakes/xapi): session expiry, host capacity, pool migration limits, credentials that
// never leak into errors, and residency — a pool of two hosts, each seen through its own session
// as its own host (the master at 127.0.0.1, the member at 127.0.0.2, whose endpoint answers
// HOST_IS_SLAVE and sends the client to the master).
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

async function connected<T>(use: (session: Session) => Promise<T>, endpoint = fake.url): Promise<T> {
  const session = await driver.connect({ endpoint }, credentials, AbortSignal.timeout(10_000));
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

/** A session to the master (host 1) and one to the member (host 2). */
async function bothHosts<T>(use: (master: Session, member: Session) => Promise<T>): Promise<T> {
  return connected((master) => connected((member) => use(master, member), fake.memberUrl(0)));
}

const recordOf = (externalId: string) => fake.db.all("VM").find(([, r]) => r["uuid"] === externalId)?.[1];

/** Events of one VM from a stream, until `until` is among them (or 5 s pass). */
async function eventsOf(stream: AsyncIterator<VmEvent>, externalId: string, until: VmEvent["type"]): Promise<VmEvent[]> {
  const seen: VmEvent[] = [];
  const deadline = AbortSignal.timeout(5_000);
  while (!seen.some((e) => e.type === until)) {
    const next = await Promise.race([nextEvent(stream), new Promise<never>((_, reject) => deadline.addEventListener("abort", () => reject(new Error(`no ${until} event; saw ${seen.map((e) => e.type).join(", ")}`)), { once: true }))]);
    if (next.externalId === externalId) seen.push(next);
  }
  return seen;
}

describe("xenserver driver (FAKE XAPI)", () => {
  it("given two managers creating the same VM at once (two sessions, one uid), then the pool holds exactly one VM of it, and both end with that one", async () => {
    for (let round = 0; round < 5; round++) {
      const id = identity(`overlap-${round}`);
      const made = await connected((a) =>
        connected(async (b) => {
          const create = async (s: Session): Promise<string | Error> => {
            for (let attempt = 0; attempt < 50; attempt++) {
              try {
                return (await s.createVm(id, spec)).externalId;
              } catch (err) {
                if (errorKind(err) !== "retryable") return err as Error;
                await new Promise((r) => setTimeout(r, 100)); // another manager holds the create: as the controller, retry
              }
            }
            return new Error("still retrying after 50 attempts");
          };
          return Promise.all([create(a), create(b)]);
        }),
      );
      const carrying = fake.db.all("VM").filter(([, r]) => (r["other_config"] as Record<string, string>)["io.omnivisor.uid"] === id.uid);
      expect(carrying.map(([, r]) => r["uuid"]), `round ${round}`).toHaveLength(1);
      expect(made, `round ${round}`).toEqual([carrying[0]![1]["uuid"], carrying[0]![1]["uuid"]]);
      await connected((s) => s.deleteVm(id));
    }
  });

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
      const record = recordOf(created.externalId);
      expect(record?.["resident_on"]).toBe(fake.refs.members[0]);
      expect(record?.["affinity"], "its affinity follows it: stopped there, it stays there").toBe(fake.refs.members[0]);
      expect(record?.["current_operations"]).toEqual({});
      expect(fake.db.all("task").filter(([, t]) => t["name_label"] === "Async.VM.pool_migrate")).toEqual([]); // the driver destroyed its task
      expect(await session.observeVm(vm), "gone from the source host's session").toBeUndefined();
      expect(await session.migrationProgress(vm)).toBeUndefined();
      expect(await session.migrateVm(vm, { host: { endpoint: "https://127.0.0.2" }, live: true }), "asked again: it is there already").toEqual({});
      await connected(async (member) => {
        expect((await member.observeVm(vm))?.power).toBe("Running");
        await member.deleteVm(vm);
      }, fake.memberUrl(0));
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

  describe("residency: a session is one host of the pool", () => {
    it("each host's session lists, observes and counts the VMs of its own host only; a VM made through the member's session runs there (start_on) and stays there halted (affinity)", async () => {
      await bothHosts(async (master, member) => {
        const onMaster = identity("res-a");
        const onMember = identity("res-b");
        const a = await master.createVm(onMaster, { ...spec, power: { state: "Running" } });
        const b = await member.createVm(onMember, { ...spec, power: { state: "Running" } });
        expect(recordOf(a.externalId)).toMatchObject({ resident_on: fake.refs.host, affinity: fake.refs.host });
        expect(recordOf(b.externalId)).toMatchObject({ resident_on: fake.refs.members[0], affinity: fake.refs.members[0] });
        expect(fake.calls).toContain("VM.start_on");
        expect(fake.calls, "never VM.start: its placement could choose another host").not.toContain("VM.start");
        expect(fake.db.get("host", fake.refs.members[0]!)?.["resident_VMs"]).toContain(fake.db.all("VM").find(([, r]) => r["uuid"] === b.externalId)?.[0]);

        expect((await master.listVms()).map((v) => v.externalId)).toContain(a.externalId);
        expect((await master.listVms()).map((v) => v.externalId)).not.toContain(b.externalId);
        expect((await member.listVms()).map((v) => v.externalId)).toEqual([b.externalId]);
        expect(await master.observeVm(onMember)).toBeUndefined();
        expect(await member.observeVm(onMaster)).toBeUndefined();
        expect((await member.observeHost()).vms).toEqual({ total: 1, running: 1, paused: 0, stopped: 0 });

        // halted, it stays its host's: affinity, not the master
        await member.setPower(onMember, { state: "Stopped", mode: "Hard" });
        expect(recordOf(b.externalId)).toMatchObject({ power_state: "Halted", resident_on: "OpaqueRef:NULL" });
        expect((await member.observeVm(onMember))?.power).toBe("Stopped");
        expect(await master.observeVm(onMember)).toBeUndefined();
        // started again through its session: on its host
        await member.setPower(onMember, { state: "Running" });
        expect(recordOf(b.externalId)?.["resident_on"]).toBe(fake.refs.members[0]);

        // another host's VM is not this session's to change or delete
        expect(errorKind(await master.setPower(onMember, { state: "Stopped", mode: "Hard" }).catch((e: unknown) => e))).toBe("not-found");
        await master.deleteVm(onMember); // absent here: a no-op
        expect(recordOf(b.externalId)?.["power_state"]).toBe("Running");
        await master.deleteVm(onMaster);
        await member.deleteVm(onMember);
      });
    });

    it("a VM without affinity made outside the driver and halted is the master's", async () => {
      await bothHosts(async (master, member) => {
        const admin = new FakeXapiAdmin(fake);
        const uuid = admin.createRunningVm("xen-res-unplaced");
        admin.setPower(uuid, "Stopped");
        expect((await master.listVms()).map((v) => v.externalId)).toContain(uuid);
        expect((await member.listVms()).map((v) => v.externalId)).not.toContain(uuid);
        admin.delete(uuid);
      });
    });

    it("a VM moved to the other host (by the driver, or outside it): the source's watcher reports it migrated, the target's defined and started (migrated in)", async () => {
      await bothHosts(async (master, member) => {
        const watching = new AbortController();
        const fromMaster = (await master.watch(watching.signal))[Symbol.asyncIterator]();
        const fromMember = (await member.watch(watching.signal))[Symbol.asyncIterator]();
        try {
          const vm = identity("res-watch");
          const created = await master.createVm(vm, { ...spec, power: { state: "Running" } });
          expect((await eventsOf(fromMaster, created.externalId, "started")).map((e) => e.type)).toEqual(["defined", "started"]);

          await master.migrateVm(vm, { host: { endpoint: fake.memberUrl(0) }, live: true });
          expect((await eventsOf(fromMaster, created.externalId, "migrated")).map((e) => e.type)).toEqual(["migrated"]);
          const arrived = await eventsOf(fromMember, created.externalId, "started");
          expect(arrived.map((e) => [e.type, e.detail])).toEqual([["defined", "migrated in"], ["started", "migrated in"]]);
          expect(arrived[0]?.identity?.uid).toBe(vm.uid);

          // back, by an administrator (xe vm-migrate): the same, the other way
          await new FakeXapiAdmin(fake).migrate(created.externalId, fake.refs.host);
          expect((await eventsOf(fromMember, created.externalId, "migrated")).map((e) => e.type)).toEqual(["migrated"]);
          expect((await eventsOf(fromMaster, created.externalId, "started")).map((e) => e.type)).toEqual(["defined", "started"]);
          expect((await master.observeVm(vm))?.power).toBe("Running");
          expect(await member.observeVm(vm)).toBeUndefined();
          await master.deleteVm(vm);
          expect((await eventsOf(fromMaster, created.externalId, "deleted")).map((e) => e.type)).toContain("deleted");
        } finally {
          watching.abort();
        }
      });
    });

    it("a stopped VM moves by its affinity; once there, createVm through the old host's session refuses to make it again, and migrateVm from a host it is not on is not-found", async () => {
      await bothHosts(async (master, member) => {
        const vm = identity("res-cold");
        const created = await master.createVm(vm, spec);
        await master.migrateVm(vm, { host: { endpoint: fake.memberUrl(0) }, live: false });
        expect(recordOf(created.externalId)).toMatchObject({ power_state: "Halted", affinity: fake.refs.members[0] });
        expect(await master.observeVm(vm)).toBeUndefined();
        expect((await member.observeVm(vm))?.externalId).toBe(created.externalId);

        const again: unknown = await master.createVm(vm, spec).catch((e: unknown) => e);
        expect([errorKind(again), (again as { reason?: string }).reason], String(again)).toEqual(["terminal", "elsewhere-in-pool"]);
        expect((again as Error).message).toContain("fake-xcp-2");
        expect(fake.db.all("VM").filter(([, r]) => r["name_label"] === vm.name)).toHaveLength(1);

        // from the member to the master, asked of the master's session: it is not there
        const missing: unknown = await master.migrateVm(vm, { host: { endpoint: "https://127.0.0.9" }, live: true }).catch((e: unknown) => e);
        expect(errorKind(missing)).toBe("unsupported"); // 127.0.0.9: not of this pool
        const notHere: unknown = await master.migrateVm(vm, { host: { endpoint: fake.url }, live: false }).catch((e: unknown) => e);
        expect(errorKind(notHere), String(notHere)).toBe("not-found");
        await member.deleteVm(vm);
      });
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
