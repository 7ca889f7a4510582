// Scenarios beyond the conformance suite for the Hyper-V driver, against the FAKE WinRM
// endpoint (tests/fakes/winrm): PowerShell injection through names, credentials that never leak
// into errors, TLS trust, host capacity, long commands across Receive timeouts, the shells the
// driver leaves behind (none), and live migration to a second fake host with progress and cancel.
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { errorKind, type HostConnection, type Session, type VmIdentity } from "../../drivers/contract/index.ts";
import { HyperVDriver } from "../../drivers/hyperv/driver.ts";
import { powershellArguments } from "../../drivers/hyperv/powershell.ts";
import { WsmanClient, type WsmanError } from "../../drivers/hyperv/wsman/client.ts";
import { FakeHyperV, VMState } from "../fakes/winrm/hyperv.ts";
import { FakeHyperVAdmin } from "../fakes/winrm/outside.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";

const credentials = { username: "Administrator", password: "s3cret-WinRM-Pa55word" };
const fake = await FakeWinrmServer.start(credentials);
const host: HostConnection = { endpoint: fake.url, tls: { caPem: fake.caPem } };
const driver = new HyperVDriver({ pollIntervalMs: 100, operationTimeoutSeconds: 1 });
const spec = { cpus: 1, memoryMiB: 256, disks: [] };

afterAll(() => fake.stop());

function identity(name: string): VmIdentity {
  return { uid: randomUUID(), name, namespace: "team-a", kubeName: "vm" };
}

async function connected<T>(use: (session: Session) => Promise<T>): Promise<T> {
  const session = await driver.connect(host, credentials, AbortSignal.timeout(10_000));
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

describe("hyperv driver (FAKE WinRM)", () => {
  it("given two managers creating the same VM at once (two sessions, one uid), then the host holds exactly one VM of it, and neither removes the other's", async () => {
    for (const [round, disks] of [[0, [{ name: "root", sizeGiB: 1 }]], [1, [{ name: "root", sizeGiB: 1 }]], [2, []], [3, []], [4, [{ name: "root", sizeGiB: 1 }]]] as const) {
      const id = identity(`hv-overlap-${round}`);
      const made = await connected((a) =>
        connected(async (b) => {
          const create = async (s: Session): Promise<string | Error> => {
            for (let attempt = 0; attempt < 50; attempt++) {
              try {
                return (await s.createVm(id, { ...spec, disks: [...disks] })).externalId;
              } catch (err) {
                if (errorKind(err) !== "retryable") return err as Error;
                await new Promise((r) => setTimeout(r, 100)); // as the controller does: try again
              }
            }
            return new Error("still retrying after 50 attempts");
          };
          return Promise.all([create(a), create(b)]);
        }),
      );
      const carrying = [...fake.hyperv.vms.values()].filter((vm) => (vm.Notes ?? "").includes(id.uid));
      expect(carrying.map((vm) => vm.Id), `round ${round}`).toHaveLength(1);
      const kept = carrying[0]!.Id;
      // both managers end with the VM that is there (one may have learnt it on its next look: by uid)
      const seen = await connected(async (s) => (await s.observeVm(id))?.externalId);
      expect(seen, `round ${round}`).toBe(kept);
      for (const m of made) expect(m instanceof Error ? m.message : "ok", `round ${round}`).toBe("ok");
      expect(carrying[0]!.Notes).not.toContain("pending");
      await connected((s) => s.deleteVm(id));
    }
  });

  it("given hostile VM names, when they are created, then each is one literal name and no other VM is touched", async () => {
    const bystander = fake.hyperv.addVm("hv-bystander");
    const names = ["hv-evil'; Remove-VM -Name * -Force; '", "hv-evil\u2019; Stop-VM -Name * -TurnOff; \u2018", "hv-$(Stop-Computer)"];
    await connected(async (session) => {
      for (const name of names) {
        const vm = await session.createVm(identity(name), spec);
        expect(vm.name).toBe(name);
        expect(fake.hyperv.vms.get(vm.externalId)?.Name).toBe(name);
      }
      expect(fake.hyperv.vms.get(bystander.Id)).toBeDefined();
      for (const name of names) await session.deleteVm({ ...identity(name), uid: (await session.listVms()).find((v) => v.name === name)!.identity!.uid });
    });
    expect([...fake.hyperv.vms.values()].filter((v) => v.Name.startsWith("hv-evil") || v.Name.startsWith("hv-$"))).toEqual([]);
    fake.hyperv.vms.delete(bystander.Id);
  });

  it("given an image, when a VM is created with an image disk and a blank disk, then both VHDXs exist and go away with the VM (the image stays)", async () => {
    const admin = new FakeHyperVAdmin(fake);
    const image = admin.addImage("debian-12", 2 * 1024 ** 3);
    await connected(async (session) => {
      const vm = identity("hv-disks");
      const created = await session.createVm(vm, { ...spec, disks: [{ name: "root", image: "debian-12" }, { name: "data", sizeGiB: 5 }] });
      const drives = fake.hyperv.vms.get(created.externalId)?.HardDrives ?? [];
      expect(drives).toHaveLength(2);
      const [root, data] = drives.map((d) => fake.hyperv.files.get(d.toLowerCase()));
      expect(root).toEqual({ sizeBytes: 2 * 1024 ** 3, parentPath: image });
      expect(data).toEqual({ sizeBytes: 5 * 1024 ** 3, parentPath: null });
      await session.deleteVm(vm);
      for (const d of drives) expect(fake.hyperv.files.has(d.toLowerCase())).toBe(false);
      expect(fake.hyperv.files.has(image.toLowerCase())).toBe(true);

      const missing: unknown = await session.createVm(identity("hv-noimage"), { ...spec, disks: [{ name: "root", image: "no-such-image" }] }).catch((e: unknown) => e);
      expect(errorKind(missing), String(missing)).toBe("not-found");
      expect([...fake.hyperv.vms.values()].filter((v) => v.Name === "hv-noimage"), "the half-made VM is removed").toEqual([]);
    });
  });

  it("given networks, when VMs are created and started, then each has its adapters on the right switches and reports its addresses", async () => {
    const withDefault = new HyperVDriver({ pollIntervalMs: 100, defaultSwitch: "Default Switch" });
    const session = await withDefault.connect(host, credentials, AbortSignal.timeout(10_000));
    try {
      const two = identity("hv-two-nics");
      const created = await session.createVm(two, { ...spec, networks: [{ name: "a" }, { name: "b", network: "lab" }], power: { state: "Running" } });
      expect(fake.hyperv.vms.get(created.externalId)?.NetworkAdapters.map((a) => a.SwitchName)).toEqual(["Default Switch", "lab"]);
      expect(created.addresses).toHaveLength(4);
      expect(created.addresses[0]).toMatch(/^10\.1\.\d+\.\d+$/);
      expect(created.addresses[3]).toContain(":"); // IPv4 first, then IPv6
      const none = identity("hv-no-nic");
      const isolated = await session.createVm(none, { ...spec, networks: [], power: { state: "Running" } });
      expect(fake.hyperv.vms.get(isolated.externalId)?.NetworkAdapters).toEqual([]);
      expect(isolated.addresses).toEqual([]);
      const missing: unknown = await session.createVm(identity("hv-bad-switch"), { ...spec, networks: [{ name: "x", network: "no-such-switch" }] }).catch((e: unknown) => e);
      expect(errorKind(missing), String(missing)).toBe("not-found");
      await session.deleteVm(two);
      await session.deleteVm(none);
    } finally {
      await session.close();
    }
  });

  it("given a VM left half-made (pending) by a crashed create, when it is created again, then it is made anew, whole", async () => {
    await connected(async (session) => {
      const vm = identity("hv-crashed");
      const half = fake.hyperv.addVm(vm.name);
      half.Notes = `omnivisor: ${JSON.stringify({ "io.omnivisor.uid": vm.uid, "io.omnivisor.pending": "true" })}`;
      const created = await session.createVm(vm, { ...spec, disks: [{ name: "root", sizeGiB: 1 }] });
      expect(created.externalId).not.toBe(half.Id);
      expect(fake.hyperv.vms.has(half.Id)).toBe(false);
      expect(fake.hyperv.vms.get(created.externalId)?.HardDrives).toHaveLength(1);
      expect(fake.hyperv.vms.get(created.externalId)?.Notes).not.toContain("pending");
      await session.deleteVm(vm);
    });
  });

  it("given a VM bigger than the host's free memory, when it is started, then the error is capacity", async () => {
    await connected(async (session) => {
      const big = identity("hv-big");
      await session.createVm(big, { ...spec, memoryMiB: 128 * 1024 });
      const err: unknown = await session.setPower(big, { state: "Running" }).catch((e: unknown) => e);
      expect(errorKind(err), String(err)).toBe("capacity");
      expect((await session.observeVm(big))?.power).toBe("Stopped");
      await session.deleteVm(big);
    });
  });

  it("a running VM cannot be resized in place; a shared-nothing move to a host the source cannot reach is retryable", async () => {
    await connected(async (session) => {
      const vm = identity("hv-move");
      await session.createVm(vm, { ...spec, power: { state: "Running" } });
      expect(errorKind(await session.updateVm(vm, { ...spec, cpus: 2 }).catch((e: unknown) => e))).toBe("invalid-transition");
      expect(session.capabilities().liveMigration).toBe(true);
      const moved: unknown = await session.migrateVm(vm, { host: { endpoint: "https://hv-nowhere.example:5986/wsman" }, live: true }).catch((e: unknown) => e);
      expect(errorKind(moved), String(moved)).toBe("retryable");
      expect(String(moved)).toContain("hv-nowhere.example");
      expect(fake.scripts.some((s) => s.includes("Move-VM -DestinationHost 'hv-nowhere.example' -IncludeStorage"))).toBe(true);
      expect(await session.migrationProgress(vm)).toBeUndefined(); // the failed move's job is over
      await session.deleteVm(vm);
    });
  });

  it("given a second host, when a running VM moves there, then its Msvm_MigrationJob's progress shows meanwhile and it runs there, disks and all, once migrateVm returns", async () => {
    const peer = new FakeHyperV(16, 64, "HV2");
    fake.hyperv.migrations.peers.set("hv2.example", peer);
    try {
      await connected(async (session) => {
        const vm = identity("hv-live");
        const created = await session.createVm(vm, { ...spec, disks: [{ name: "root", sizeGiB: 1 }], power: { state: "Running" } });
        expect(await session.migrationProgress(vm)).toBeUndefined();
        await session.cancelMigration(vm); // nothing runs: a no-op
        let moved = false;
        const moving = session.migrateVm(vm, { host: { endpoint: "https://hv2.example:5986/wsman" }, live: true }).finally(() => (moved = true));
        const seen: number[] = [];
        while (!moved) {
          const progress = await session.migrationProgress(vm).catch(() => undefined);
          if (progress !== undefined) seen.push(progress.percent);
        }
        expect(await moving).toEqual({});
        expect(seen.some((p) => p > 0 && p < 100), `progress seen: ${seen.join(", ")}`).toBe(true);
        expect(fake.hyperv.vms.has(created.externalId)).toBe(false);
        const there = peer.vms.get(created.externalId);
        expect(there?.State).toBe(VMState.Running);
        expect(there?.HardDrives).toEqual([expect.stringMatching(/^C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\hv-live\\hv-live-.*root\.vhdx$/)]);
        expect(peer.files.has(there!.HardDrives[0]!.toLowerCase())).toBe(true);
        expect(await session.observeVm(vm)).toBeUndefined();
      });
    } finally {
      fake.hyperv.migrations.peers.delete("hv2.example");
    }
  });

  it("each Hyper-V host is its own server: after a move, the source's session no longer lists, observes or counts the VM, and the target's (its own WinRM endpoint) does", async () => {
    const other = await FakeWinrmServer.start({ ...credentials, address: "127.0.0.2", computerName: "FAKE-HYPERV-2" });
    fake.linkForMigration(other);
    try {
      await connected(async (source) => {
        const target = await driver.connect({ endpoint: other.url, tls: { caPem: other.caPem } }, credentials, AbortSignal.timeout(10_000));
        const watching = new AbortController();
        try {
          const fromSource = (await source.watch(watching.signal))[Symbol.asyncIterator]();
          const vm = identity("hv-resident");
          const created = await source.createVm(vm, { ...spec, power: { state: "Running" } });
          const before = (await source.observeHost()).vms.total;
          expect(await target.observeVm(vm)).toBeUndefined();
          await source.migrateVm(vm, { host: { endpoint: other.url }, live: true });
          expect(await source.observeVm(vm)).toBeUndefined();
          expect((await source.listVms()).map((v) => v.externalId)).not.toContain(created.externalId);
          expect((await source.observeHost()).vms.total).toBe(before - 1);
          expect((await target.observeVm(vm))).toMatchObject({ externalId: created.externalId, power: "Running" });
          expect((await target.listVms()).map((v) => v.externalId)).toEqual([created.externalId]);
          // polled Get-VM cannot tell a move from a delete: the source's watcher reports it gone
          const types: string[] = [];
          while (!types.includes("deleted")) {
            const next = await fromSource.next();
            if (next.done === true) break;
            if (next.value.externalId === created.externalId) types.push(next.value.type);
          }
          expect(types).toContain("deleted");
          await target.deleteVm(vm);
        } finally {
          watching.abort();
          await target.close();
        }
      });
    } finally {
      fake.hyperv.migrations.peers.clear();
      await other.stop();
    }
  });

  it("given a move in flight, when it is cancelled, then migrateVm fails as cancelled and the VM runs here as before", async () => {
    const peer = new FakeHyperV(16, 64, "HV3");
    fake.hyperv.migrations.peers.set("hv3.example", peer);
    try {
      await connected(async (session) => {
        const vm = identity("hv-cancel");
        const created = await session.createVm(vm, { ...spec, power: { state: "Running" } });
        const moving = session.migrateVm(vm, { host: { endpoint: "https://hv3.example:5986/wsman" }, live: true }).catch((e: unknown) => e);
        await expect.poll(async () => (await session.migrationProgress(vm))?.percent, { timeout: 5_000, interval: 20 }).toBeGreaterThan(0);
        const again: unknown = await session.migrateVm(vm, { host: { endpoint: "https://hv3.example:5986/wsman" }, live: true }).catch((e: unknown) => e);
        expect((again as { reason?: string }).reason, String(again)).toBe("migration-in-progress");
        await session.cancelMigration(vm);
        const err = await moving;
        expect(errorKind(err), String(err)).toBe("terminal");
        expect(err).toMatchObject({ name: "MigrationCancelledError", reason: "migration-cancelled" });
        expect(fake.hyperv.vms.get(created.externalId)?.State).toBe(VMState.Running);
        expect(peer.vms.size).toBe(0);
        expect(await session.migrationProgress(vm)).toBeUndefined();
        await session.deleteVm(vm);
      });
    } finally {
      fake.hyperv.migrations.peers.delete("hv3.example");
    }
  });

  it("a guest shutdown that outlasts the WS-Man OperationTimeout is received across timed-out Receives", async () => {
    fake.hyperv.guestShutdownMs = 1_500;
    try {
      await connected(async (session) => {
        const vm = identity("hv-slow");
        await session.createVm(vm, { ...spec, power: { state: "Running" } });
        const faults = fake.faults.length;
        await session.setPower(vm, { state: "Stopped", mode: "Soft" });
        expect((await session.observeVm(vm))?.power).toBe("Stopped");
        expect(fake.faults.slice(faults)).toContain("2150858793"); // w:TimedOut, then Receive again
        await session.deleteVm(vm);
      });
    } finally {
      fake.hyperv.guestShutdownMs = 100;
    }
  });

  it("given a guest that ignores shutdown, when it is stopped TrySoft with a deadline, then it is turned off after the deadline", async () => {
    fake.hyperv.guestsIgnoreShutdown = true;
    try {
      await connected(async (session) => {
        const stubborn = identity("hv-stubborn");
        const { externalId } = await session.createVm(stubborn, { ...spec, power: { state: "Running" } });
        await session.setPower(stubborn, { state: "Stopped", mode: "TrySoft", deadlineSeconds: 3 });
        await expect.poll(async () => (await session.observeVm(stubborn))?.power, { timeout: 10_000, interval: 100 }).toBe("Stopped");
        expect(fake.scripts.some((script) => script.includes(`Get-VM -Id '${externalId}' | Stop-VM -TurnOff -Force`))).toBe(true);
        await session.deleteVm(stubborn);
      });
    } finally {
      fake.hyperv.guestsIgnoreShutdown = false;
    }
  });

  it("a command aborted while it runs is signalled to terminate and its shell deleted", async () => {
    fake.hyperv.guestsIgnoreShutdown = true;
    const vm = fake.hyperv.addVm("hv-abort", VMState.Running);
    const client = new WsmanClient({ url: new URL(fake.url), username: credentials.username, password: credentials.password, tls: { caPem: fake.caPem }, operationTimeoutSeconds: 1 });
    try {
      const abort = new AbortController();
      const start = fake.actions.length;
      const running = client.run("powershell.exe", powershellArguments(`Get-VM -Id '${vm.Id}' | Stop-VM -Force`), abort.signal);
      await expect.poll(() => fake.actions.slice(start)).toContain("Receive");
      const before = fake.actions.length;
      abort.abort();
      const err: unknown = await running.catch((e: unknown) => e);
      expect((err as WsmanError).failure).toBe("aborted");
      expect(fake.actions.slice(before)).toEqual(expect.arrayContaining(["Signal", "Delete"]));
      expect(fake.openShells).toBe(0);
    } finally {
      client.close();
      fake.hyperv.guestsIgnoreShutdown = false;
      fake.hyperv.vms.delete(vm.Id);
    }
  });

  it("reports the host and closes every shell it opened", async () => {
    const observed = await connected((session) => session.observeHost());
    expect(observed).toMatchObject({ reachable: true, hypervisor: "Hyper-V", version: "10.0.20348", capacity: { cpus: 16, memoryMiB: 65536 } });
    expect(fake.openShells).toBe(0);
  });

  describe("credentials and trust", () => {
    it("a wrong password fails as terminal, and the error does not carry the password", async () => {
      const wrong = { username: "Administrator", password: "wr0ng-Pa55word-do-not-leak" };
      const err: unknown = await driver.connect(host, wrong, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("terminal");
      expect((err as { reason?: string }).reason).toBe("auth-failed");
      expect(inspect(err, { depth: 10 })).not.toContain(wrong.password);
      expect(inspect(err, { depth: 10 })).not.toContain(Buffer.from(`${wrong.username}:${wrong.password}`).toString("base64"));
    });

    it("an error after login (host gone) is retryable and does not carry the password either", async () => {
      const doomed = await FakeWinrmServer.start(credentials);
      const session = await driver.connect({ endpoint: doomed.url, tls: { caPem: doomed.caPem } }, credentials, AbortSignal.timeout(10_000));
      await doomed.stop();
      const err: unknown = await session.createVm(identity("hv-gone"), spec).catch((e: unknown) => e);
      await session.close();
      expect(errorKind(err)).toBe("retryable");
      expect(inspect(err, { depth: 10 })).not.toContain(credentials.password);
    });

    it("an untrusted certificate is terminal; trusting it explicitly (insecure) works", async () => {
      const untrusted: unknown = await driver.connect({ endpoint: fake.url }, credentials, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect([errorKind(untrusted), (untrusted as { reason?: string }).reason]).toEqual(["terminal", "tls"]);
      const insecure = await driver.connect({ endpoint: fake.url, tls: { insecureSkipVerify: true } }, credentials, AbortSignal.timeout(10_000));
      await insecure.close();
    });

    it("plain http, credentials in the URL and missing credentials are refused before anything is sent", async () => {
      const sent = fake.scripts.length;
      for (const [endpoint, creds] of [
        [fake.url.replace("https:", "http:"), credentials],
        [fake.url.replace("https://", `https://Administrator:${credentials.password}@`), credentials],
        [fake.url, undefined],
      ] as const) {
        const err: unknown = await driver.connect({ endpoint, tls: { caPem: fake.caPem } }, creds, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
        expect(errorKind(err)).toBe("terminal");
        expect(String((err as Error).message)).not.toContain(credentials.password);
      }
      expect(fake.scripts.length).toBe(sent);
    });
  });
});
