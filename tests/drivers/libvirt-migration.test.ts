// Scenario: live migration between libvirt hosts, peer to peer, with a real guest. Three private
// daemons (own mount namespaces, distinct host UUIDs) listen on loopback TCP. A and B share a
// storage pool — one directory in /tmp defined as pool "shared" on both, as an NFS export would be
// — and say so (LibvirtOptions.sharedStorage "rack-1"). C has a pool "shared" at the same path,
// but over a tmpfs of its own: it shares nothing. The guest is the tiny VM with 256 MiB, whose
// ballast (scripts/tiny-vm.sh) keeps ~100 MiB of random bytes and rewrites 20 MiB/s of them.
//   given  the guest running on A, its heartbeat on A's console
//   when   it moves live to B, its progress read every 100 ms meanwhile
//   then   progress was seen mid-flight, B runs it with the same UUID, the heartbeat goes on
//          where it stopped on A (no reboot), A's watch reported it migrated, the downtime is
//          reported, and moving it again is success (it is there already)
//   when   a move back to A is cancelled mid-flight, or right as it starts: it runs on B as
//          before, A has nothing
//   when   it moves to B's neighbour without the shared-storage name: refused (the target sees its disk)
//   when   it moves to C: its disk is copied — C's pool holds it, the shared directory no longer
//   and    a VM that is nowhere is not-found; an unreachable target is retryable
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { errorKind, type HostConnection, type MigrationProgress, type MigrationResult, type MigrationTarget, type Session, type VmEvent } from "../../drivers/contract/index.ts";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { freePort } from "../../src/local/ports.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt, tinyVmImage } from "../harness/services.ts";

const execute = promisify(execFile);
const run = randomBytes(3).toString("hex");
const diskDir = join(tmpdir(), `omni-lv-migrate-${run}`);
const driver = new LibvirtDriver();
const identity = { uid: randomUUID(), name: `lv-mig-${run}`, namespace: "migrate", kubeName: "vm" };
const daemons: PrivateLibvirtd[] = [];
let a: PrivateLibvirtd, b: PrivateLibvirtd, c: PrivateLibvirtd;
let hostA: HostConnection, hostB: HostConnection, hostC: HostConnection;
let sa: LibvirtSession, sb: LibvirtSession, sc: LibvirtSession;
let externalId = "";

beforeAll(async () => {
  const { virtType } = await requireLibvirt();
  // KVM where it boots a stock guest; on kvm_pvm it emulates one slower than TCG (ADR 0003).
  await mkdir(diskDir, { recursive: true });
  // libvirt refuses 127.0.0.1 as migration_host ("the address of the local machine"), but any
  // other loopback address works; migration traffic must stay on loopback here.
  const ip = "127.0.0.2";
  const start = async (name: string, ports: string, extra: { tmpfs?: string[] } = {}): Promise<{ daemon: PrivateLibvirtd; host: HostConnection }> => {
    const port = await freePort();
    const [min, max] = ports.split("-");
    const qemuConf = [`migration_address = "${ip}"`, `migration_host = "${ip}"`, `migration_port_min = ${min}`, `migration_port_max = ${max}`];
    const daemon = await startPrivateLibvirtd(`${name}-${run}`, { tcp: { address: "127.0.0.1", port }, qemuConf, pools: [{ name: "shared", path: diskDir }], ...extra });
    daemons.push(daemon);
    return { daemon, host: { endpoint: `qemu+tcp://127.0.0.1:${port}/system`, libvirt: { virtType, storagePool: "shared" } } };
  };
  const [da, db, dc] = await Promise.all([start("mig-a", "49300-49349"), start("mig-b", "49350-49399"), start("mig-c", "49400-49449", { tmpfs: [diskDir] })]);
  [a, b, c] = [da.daemon, db.daemon, dc.daemon];
  hostA = { ...da.host, libvirt: { ...da.host.libvirt, sharedStorage: "rack-1" } };
  hostB = { ...db.host, libvirt: { ...db.host.libvirt, sharedStorage: "rack-1" } };
  hostC = dc.host;
  const connect = async (host: HostConnection): Promise<LibvirtSession> => (await driver.connect(host, undefined, AbortSignal.timeout(10_000))) as LibvirtSession;
  [sa, sb, sc] = await Promise.all([connect(hostA), connect(hostB), connect(hostC)]);
  // The image on A (and so in the directory A and B share), and on C: a copy moves disks, not images.
  const upload = await imageUpload(tinyVmImage());
  await sa.uploadImage("tiny-vm", upload);
  await sc.uploadImage("tiny-vm", upload);
});

afterAll(async () => {
  const sessions = [sa, sb, sc] as (LibvirtSession | undefined)[];
  for (const s of sessions) await s?.deleteVm(identity).catch(() => undefined);
  await Promise.all(sessions.map((s) => s?.close() ?? Promise.resolve()));
  await Promise.all(daemons.map((d) => d.stop()));
  await rm(diskDir, { recursive: true, force: true });
});

/** The guest's console log on a daemon's host, and the heartbeat numbers in it. */
async function heartbeats(daemon: PrivateLibvirtd): Promise<{ text: string; beats: number[] }> {
  const text = await readFile(join(daemon.dir, "log", "qemu", `${identity.name}-console.log`), "utf8").catch(() => "");
  return { text, beats: [...text.matchAll(/omnivisor-tiny-vm: heartbeat (\d+)/g)].map((m) => Number(m[1])) };
}

/** Migrates while reading progress every 100 ms; returns the result (or the error), what was seen and how long it took. */
async function migrateWatching(from: Session, target: MigrationTarget, whenSeen?: (p: MigrationProgress) => Promise<void>): Promise<{ outcome: MigrationResult | Error; seen: MigrationProgress[]; ms: number }> {
  const started = Date.now();
  let done = false;
  const moving = from.migrateVm(identity, target).then(
    (r) => r,
    (e: unknown) => e as Error,
  );
  void moving.finally(() => (done = true));
  const seen: MigrationProgress[] = [];
  let acted = false;
  while (!done) {
    const progress = await from.migrationProgress(identity);
    if (progress !== undefined) seen.push(progress);
    if (progress !== undefined && progress.percent > 0 && whenSeen && !acted) {
      acted = true;
      await whenSeen(progress);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { outcome: await moving, seen, ms: Date.now() - started };
}

async function volumes(daemon: PrivateLibvirtd): Promise<string[]> {
  await execute("virsh", ["-c", daemon.uri, "pool-refresh", "shared"]);
  return (await execute("virsh", ["-q", "-c", daemon.uri, "vol-list", "shared"])).stdout.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter(Boolean);
}

describe("libvirt driver: live migration with progress and cancel (peer to peer, over TCP)", () => {
  it("moves a running guest live to a host sharing its storage: progress mid-flight, same UUID, the heartbeat goes on, downtime reported", async () => {
    expect(sa.capabilities().liveMigration).toBe(true);
    // with cloud-init: its seed is a read-only CD-ROM, which libvirt does not copy (shared-nothing case below)
    const cloudInit = { userData: `#cloud-config\nfinal_message: migrating-${run}\n` };
    const vm = await sa.createVm(identity, { cpus: 1, memoryMiB: 256, disks: [{ name: "root", image: "tiny-vm" }], networks: [], console: true, power: { state: "Running" }, cloudInit });
    externalId = vm.externalId;
    await vi.waitFor(async () => expect((await heartbeats(a)).text).toContain("omnivisor-tiny-vm: ballast"), { timeout: 90_000, interval: 500 });
    expect(await sa.migrationProgress(identity)).toBeUndefined();
    const watching = new AbortController();
    const events: VmEvent[] = [];
    const stream = await sa.watch(watching.signal);
    const collecting = (async () => {
      for await (const e of stream) events.push(e);
    })();

    const { outcome, seen, ms } = await migrateWatching(sa, { host: hostB, live: true, bandwidthMiBps: 64 });

    if (outcome instanceof Error) throw outcome;
    const mid = seen.filter((p) => p.percent > 0 && p.percent < 100);
    console.info(`A→B live (shared storage, 64 MiB/s): ${ms} ms, downtime ${outcome.downtimeMs} ms, progress read ${seen.length}× (${seen.map((p) => p.percent).join(" ")} %)`);
    expect(mid.length, "progress seen mid-flight").toBeGreaterThan(0);
    expect(mid[0]).toMatchObject({ memoryTotalBytes: expect.any(Number) as number, memoryRemainingBytes: expect.any(Number) as number });
    expect(outcome.downtimeMs).toBeGreaterThanOrEqual(0);
    expect(outcome.downtimeMs).toBeLessThan(10_000);
    expect(await sb.observeVm(identity)).toMatchObject({ externalId, power: "Running", managed: true, identity: { uid: identity.uid } });
    expect(await sa.observeVm(identity)).toBeUndefined();
    expect(await sa.migrationProgress(identity)).toBeUndefined();
    await vi.waitFor(() => expect(events.filter((e) => e.externalId === externalId).map((e) => e.type)).toContain("migrated"), { timeout: 10_000 });
    watching.abort();
    await collecting;

    // The guest's memory moved, so its counter goes on where it stopped on A: no reboot.
    await vi.waitFor(async () => expect((await heartbeats(b)).beats.length).toBeGreaterThan(1), { timeout: 10_000, interval: 250 });
    const [onA, onB] = [await heartbeats(a), await heartbeats(b)];
    expect(onB.text).not.toContain("booted kernel");
    expect(onB.beats[0]).toBeGreaterThanOrEqual(onA.beats.at(-1)!);
    expect(onB.beats[0]).toBeLessThanOrEqual(onA.beats.at(-1)! + 3);

    // Asked again (a controller that crashed before it saw the answer): it is there, so success.
    await expect(sa.migrateVm(identity, { host: hostB, live: true })).resolves.toMatchObject({});
  });

  it("cancels a move mid-flight: the guest runs on as before, the target has nothing", async () => {
    const { outcome, seen } = await migrateWatching(sb, { host: hostA, live: true, bandwidthMiBps: 16 }, () => sb.cancelMigration(identity));
    console.info(`B→A cancelled at ${seen.find((p) => p.percent > 0)?.percent} %`);
    expect(outcome).toBeInstanceOf(Error);
    expect(errorKind(outcome)).toBe("terminal");
    expect(outcome).toMatchObject({ name: "MigrationCancelledError", reason: "migration-cancelled" });
    expect(await sb.observeVm(identity)).toMatchObject({ externalId, power: "Running" });
    expect((await sa.listVms()).map((v) => v.externalId)).not.toContain(externalId);
    expect(await sb.migrationProgress(identity)).toBeUndefined();
    await sb.cancelMigration(identity); // nothing runs now: a no-op

    // A cancel right behind the call: stopped before it reaches libvirt, or as soon as its job shows.
    const moving = sb.migrateVm(identity, { host: hostA, live: true, bandwidthMiBps: 16 }).catch((e: unknown) => e);
    await sb.cancelMigration(identity);
    expect(await moving).toMatchObject({ name: "MigrationCancelledError" });
    expect((await sa.listVms()).map((v) => v.externalId)).not.toContain(externalId);
    const before = (await heartbeats(b)).beats.at(-1)!;
    await vi.waitFor(async () => expect((await heartbeats(b)).beats.at(-1)).toBeGreaterThan(before), { timeout: 5_000, interval: 250 });
  });

  it("refuses to copy disks onto a host that sees them already (shared storage it was not told about)", async () => {
    const unnamed = { ...hostA, libvirt: { ...hostA.libvirt, sharedStorage: undefined } };
    const err: unknown = await sb.migrateVm(identity, { host: unnamed, live: true }).catch((e: unknown) => e);
    expect(errorKind(err), String(err)).toBe("terminal");
    expect(err).toMatchObject({ reason: "disk-on-target" });
    expect(await sb.observeVm(identity)).toMatchObject({ power: "Running" });
  });

  it("moves to a host without shared storage by copying the disk (shared-nothing), and the cloud-init seed with it", async () => {
    const disk = `${identity.uid}-root.qcow2`;
    const seed = `${identity.uid}-cidata.iso`;
    expect(await readdir(diskDir)).toContain(disk);
    expect(await readdir(diskDir)).toContain(seed);
    expect(await volumes(c)).not.toContain(disk);
    const { outcome, seen, ms } = await migrateWatching(sb, { host: hostC, live: true });
    if (outcome instanceof Error) throw outcome;
    console.info(`B→C live, disk copied: ${ms} ms, downtime ${outcome.downtimeMs} ms, progress ${seen.map((p) => p.percent).join(" ")} %, disk bytes seen: ${seen.some((p) => p.diskTotalBytes !== undefined)}`);
    expect(await sc.observeVm(identity)).toMatchObject({ externalId, power: "Running" });
    expect(await sb.observeVm(identity)).toBeUndefined();
    expect(await volumes(c)).toContain(disk);
    expect(await volumes(c), "the seed was copied ahead of the move (libvirt copies no read-only CD-ROM)").toContain(seed);
    expect(await readdir(diskDir), "the source's copy is removed").not.toContain(disk);
    expect(await readdir(diskDir), "the source's seed is removed").not.toContain(seed);
    await vi.waitFor(async () => expect((await heartbeats(c)).beats.length).toBeGreaterThan(1), { timeout: 10_000, interval: 250 });
    expect((await heartbeats(c)).text).not.toContain("booted kernel");
  });

  it("a VM that is on neither host is not-found; a target that cannot be reached is retryable", async () => {
    const nowhere = { ...identity, uid: randomUUID(), name: `lv-mig-${run}-nowhere` };
    const missing: unknown = await sa.migrateVm(nowhere, { host: hostB, live: true }).catch((e: unknown) => e);
    expect(errorKind(missing), String(missing)).toBe("not-found");
    const port = await freePort();
    const away: unknown = await sc.migrateVm(identity, { host: { endpoint: `qemu+tcp://127.0.0.1:${port}/system` }, live: true }).catch((e: unknown) => e);
    expect(errorKind(away), String(away)).toBe("retryable");
    expect(away).toMatchObject({ reason: "target-unreachable" });
    expect(String(away)).toContain(`127.0.0.1:${port}`);
    expect(await sc.observeVm(identity)).toMatchObject({ power: "Running" });
  });
});
