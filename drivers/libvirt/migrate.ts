// Live migration, peer to peer: the source daemon connects to the destination itself
// (DOMAIN_MIGRATE_PERFORM3_PARAMS with VIR_MIGRATE_PEER2PEER), so the move is one call, made on
// a connection of its own so progress and cancel never wait behind it. Around that call the driver
// talks to the destination daemon directly: to find a VM already moved (a retry is success), to
// check that a shared-nothing move can work, to read the downtime, and to remove what a failed
// copy left there. ADR 0020 has the decisions.
import {
  InvalidTransitionError,
  MigrationCancelledError,
  NotFoundError,
  RetryableError,
  TerminalError,
  isDriverError,
  type Credentials,
  type HostConnection,
  type MigrationProgress,
  type MigrationResult,
  type MigrationTarget,
  type VmIdentity,
} from "../contract/index.ts";
import { isVirError, toDriverError, VirErr } from "./errors.ts";
import { migrationCall, progressOf, resultOf, sharesStorage } from "./migration-job.ts";
import { findDomain, type Observed } from "./observe.ts";
import type { DomainRef } from "./rpc/protocol.ts";
import { JobStatsFlags } from "./rpc/procedures.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";
import { parseLibvirtUri } from "./rpc/uri.ts";
import { defaultPoolName, HostStorage } from "./volumes.ts";

/** The source side of a migration: this session's host. */
export interface MigrationSource {
  remote: LibvirtRemote;
  /** The host's pool; absent on simulated hosts. */
  storage?: HostStorage;
  sharedStorage?: string;
  /** Opens a connection to another host of this driver (the target). */
  openPeer(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<LibvirtRemote>;
}

/** A migrateVm in progress in this session, as cancelMigration sees it. */
export interface Flight {
  /** cancelMigration came before the move was sent: do not send it. */
  cancelled: boolean;
  settled: boolean;
}

/** How long cancelMigration waits for the aborted job to end, and how often it looks. */
const cancelWaitMs = 15_000;
const pollMs = 100;

/** The URI the source daemon uses to reach the destination daemon (TCP or TLS, never a local socket). */
export function destinationUri(target: MigrationTarget): string {
  const parsed = parseLibvirtUri(target.host.endpoint);
  if (parsed.transport.kind === "unix") return target.host.endpoint;
  const { host, port } = parsed.transport;
  const path = parsed.name.replace(/^[a-z0-9]+:\/\//i, "");
  return `${parsed.driver}+${parsed.transport.kind}://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

export async function migrateDomain(source: MigrationSource, identity: VmIdentity, target: MigrationTarget, flight: Flight): Promise<MigrationResult> {
  // The target's connection is opened while the source is looked at: both are on a move's path.
  const [reached, lookup] = await Promise.allSettled([reach(source, target), findDomain(source.remote, identity)]);
  if (reached.status === "rejected") throw reached.reason;
  const dest = reached.value;
  try {
    if (lookup.status === "rejected") throw lookup.reason;
    const found = lookup.value;
    if (!found) {
      // Moved already (a retry after a crash, or a second caller): success, with what the target says.
      const there = await findDomain(dest, identity);
      if (there) return await completedOn(dest, there.dom);
      throw new NotFoundError(`no domain carries uid ${identity.uid} (${identity.name}) on this host or on ${target.host.endpoint}`, { reason: "no-domain" });
    }
    const running = progressOf(await source.remote.getJobStats(found.dom));
    if (running) {
      throw new RetryableError(`a migration of ${identity.name} is already running (${running.percent} %): wait for it, or cancel it`, { reason: "migration-in-progress" });
    }
    const copyDisks = !sharesStorage(source.sharedStorage, target.host.libvirt?.sharedStorage);
    const call = migrationCall({ power: found.observation.power, live: target.live, copyDisks, ...(target.bandwidthMiBps === undefined ? {} : { bandwidthMiBps: target.bandwidthMiBps }) });
    const targetPool = copyDisks ? targetStorage(dest, target) : undefined;
    if (targetPool) {
      await checkCopyTarget(found, targetPool, target);
      await copySeed(source, targetPool, identity);
    }
    if (flight.cancelled) throw new MigrationCancelledError(`migration of ${identity.name} was cancelled before it started`);
    const dconnuri = destinationUri(target);
    try {
      await source.remote.migratePerform3Params(found.dom, dconnuri, call.params, call.flags);
    } catch (err) {
      return await afterFailure(err, { source, dest, identity, targetPool, dconnuri });
    }
    // The copies are the VM's disks now; the source's are leftovers (the domain no longer uses them).
    if (copyDisks) await source.storage?.removeVmVolumes(identity.uid, found.facts.diskFiles).catch(() => undefined);
    const moved = await findDomain(dest, identity);
    return moved ? await completedOn(dest, moved.dom) : {};
  } finally {
    dest.close();
  }
}

/** The migration out of this host running for the VM; undefined when none runs or the VM is not here. */
export async function migrationProgress(remote: LibvirtRemote, identity: VmIdentity): Promise<MigrationProgress | undefined> {
  const found = await findDomain(remote, identity);
  if (!found) return undefined;
  try {
    return progressOf(await remote.getJobStats(found.dom));
  } catch (err) {
    if (isVirError(err, VirErr.NO_DOMAIN)) return undefined; // moved (or deleted) meanwhile
    // "domain is not running": the migration finished between the lookup and the read (the source's
    // copy is stopped on its way out) or the guest stopped — either way there is no job to report
    if (isVirError(err, VirErr.OPERATION_INVALID)) return undefined;
    throw err;
  }
}

/**
 * Aborts the VM's migration out of this host and waits until the guest runs here again. A
 * migration this session is still about to send (flight) is stopped before it starts, or aborted
 * as soon as the daemon shows its job. Too late — the VM left meanwhile — is InvalidTransitionError.
 */
export async function cancelMigration(remote: LibvirtRemote, identity: VmIdentity, flight: Flight | undefined): Promise<void> {
  if (flight) flight.cancelled = true;
  const found = await findDomain(remote, identity);
  if (!found) return;
  const deadline = Date.now() + cancelWaitMs;
  while (!(await abortMigrationJob(remote, found.dom))) {
    // None runs: done, unless this session's migrateVm is about to start one.
    if (!flight || flight.settled || Date.now() > deadline) return;
    await sleep(pollMs);
  }
  while (Date.now() < deadline && (await migrationJob(remote, found.dom))) await sleep(pollMs);
  if (!(await findDomain(remote, identity))) {
    throw new InvalidTransitionError(`the migration of ${identity.name} finished before it could be cancelled: it runs on the target now`, { reason: "migration-finished" });
  }
}

/** Aborts the domain's job if it is a migration out; false when there is none (or it just ended). */
async function abortMigrationJob(remote: LibvirtRemote, dom: DomainRef): Promise<boolean> {
  if (!(await migrationJob(remote, dom))) return false;
  try {
    await remote.abortJob(dom);
    return true;
  } catch (err) {
    // "no job is active on the domain": it ended between the look and the abort.
    if (isVirError(err, VirErr.OPERATION_INVALID) || isVirError(err, VirErr.NO_DOMAIN)) return false;
    throw err;
  }
}

async function migrationJob(remote: LibvirtRemote, dom: DomainRef): Promise<boolean> {
  try {
    return progressOf(await remote.getJobStats(dom)) !== undefined;
  } catch (err) {
    if (isVirError(err, VirErr.NO_DOMAIN)) return false;
    throw err;
  }
}

/** A connection to the target daemon, or why there is none (retryable: it may come back). */
async function reach(source: MigrationSource, target: MigrationTarget): Promise<LibvirtRemote> {
  try {
    return await source.openPeer(target.host, target.credentials, AbortSignal.timeout(15_000));
  } catch (err) {
    if (isDriverError(err) && err.kind !== "retryable") throw err; // bad endpoint, TLS: fix the target Host
    throw new RetryableError(`the migration target ${target.host.endpoint} cannot be reached: ${(err as Error).message}`, { reason: "target-unreachable", cause: err });
  }
}

/** The pool the target keeps VM disks in, where libvirt makes the copies of a shared-nothing move. */
function targetStorage(dest: LibvirtRemote, target: MigrationTarget): HostStorage {
  const named = target.host.libvirt?.storagePool;
  return new HostStorage(dest, named ?? defaultPoolName, { createIfMissing: named === undefined });
}

/**
 * Before copying disks: the target must not see them already — if it does, the hosts share the
 * storage after all (without saying so), and copying a disk onto itself would corrupt it — and it
 * must hold the image files a direct kernel boot needs (they are not disks and are not copied).
 */
async function checkCopyTarget(found: Observed, pool: HostStorage, target: MigrationTarget): Promise<void> {
  const there = new Set(await pool.volumes(true));
  const base = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
  const seen = found.facts.diskFiles.filter((p) => there.has(base(p)));
  if (seen.length > 0) {
    throw new TerminalError(
      `${target.host.endpoint} already has ${seen.join(", ")}: if the two hosts share this storage, give both the same libvirt.omnivisor.io/shared-storage annotation; if it is left over from a failed move, delete it there`,
      { reason: "disk-on-target" },
    );
  }
  const missing = found.facts.bootFiles.map(base).filter((name) => /\.(vmlinuz|initrd)$/.test(name) && !there.has(name));
  if (missing.length > 0) {
    throw new NotFoundError(`${target.host.endpoint} lacks ${missing.join(", ")} in pool ${pool.poolName}: a shared-nothing move copies disks, not images — upload the image there first`, { reason: "image-missing" });
  }
}

/**
 * The cloud-init seed CD-ROM is read-only, and libvirt copies no read-only disk: the target needs
 * the volume before QEMU starts there. Downloaded from this host's pool, uploaded to the target's.
 */
async function copySeed(source: MigrationSource, targetPool: HostStorage, identity: VmIdentity): Promise<void> {
  const seed = await source.storage?.readSeed(identity.uid);
  if (seed !== undefined) await targetPool.ensureSeed(identity.uid, seed);
}

/** The target's record of the finished incoming migration (libvirt keeps it on the destination: the source domain is gone). */
async function completedOn(dest: LibvirtRemote, dom: DomainRef): Promise<MigrationResult> {
  const stats = await dest.getJobStats(dom, JobStatsFlags.COMPLETED | JobStatsFlags.KEEP_COMPLETED).catch(() => undefined);
  return resultOf(stats);
}

interface Failure {
  source: MigrationSource;
  dest: LibvirtRemote;
  identity: VmIdentity;
  targetPool: HostStorage | undefined;
  dconnuri: string;
}

/**
 * The perform call failed. If the VM runs on the target anyway (the reply was lost with a
 * connection), that is success. Otherwise a shared-nothing attempt's copies are removed from the
 * target (they did not exist before it: checkCopyTarget) and the error says what happened.
 */
async function afterFailure(err: unknown, f: Failure): Promise<MigrationResult> {
  // null: looked, and it is not there; undefined: could not look.
  const look = (remote: LibvirtRemote): Promise<Observed | null | undefined> => findDomain(remote, f.identity).then((d) => d ?? null, () => undefined);
  const [here, there] = await Promise.all([look(f.source.remote), look(f.dest)]);
  if (there && here === null) return completedOn(f.dest, there.dom);
  if (f.targetPool && !there) await f.targetPool.removeVmVolumes(f.identity.uid).catch(() => undefined);
  const what = `migrating ${f.identity.name} to ${f.dconnuri}`;
  if (isVirError(err, VirErr.OPERATION_ABORTED)) throw new MigrationCancelledError(`${what}: cancelled (${(err as Error).message}); it runs here as before`, { cause: err });
  if (isVirError(err, VirErr.OPERATION_INVALID) && /migration job is already running/i.test((err as Error).message)) {
    throw new RetryableError(`${what}: another migration of it is running`, { reason: "migration-in-progress", cause: err });
  }
  if ((isVirError(err, VirErr.SYSTEM_ERROR) || isVirError(err, VirErr.NO_CONNECT) || isVirError(err, VirErr.RPC)) && /connect/i.test((err as Error).message)) {
    throw new RetryableError(`${what}: this host cannot reach the target's libvirtd: ${(err as Error).message}`, { reason: "target-unreachable", cause: err });
  }
  throw toDriverError(err, what);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
