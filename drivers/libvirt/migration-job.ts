// A migration in libvirt's terms, as pure functions (tests beside): the flags and typed
// parameters of DOMAIN_MIGRATE_PERFORM3_PARAMS for a move, and the job stats of
// DOMAIN_GET_JOB_STATS read as the contract's MigrationProgress and MigrationResult.
import { UnsupportedError, type MigrationProgress, type MigrationResult, type ObservedPower } from "../contract/index.ts";
import { Flags, JobOperation, JobType, MigrateParam, TypedParam } from "./rpc/procedures.ts";
import type { JobStats } from "./rpc/remote.ts";
import type { TypedParameter, TypedValue } from "./rpc/typed-params.ts";

export interface MigrationRequest {
  /** The VM's power on the source: a stopped one moves offline (its definition only). */
  power: ObservedPower;
  live: boolean;
  /** The hosts share no storage: the disks are copied too (shared-nothing). */
  copyDisks: boolean;
  bandwidthMiBps?: number;
}

/** Hosts share storage only when both name the same shared storage (LibvirtOptions.sharedStorage). */
export function sharesStorage(source: string | undefined, target: string | undefined): boolean {
  return source !== undefined && source !== "" && source === target;
}

/**
 * What to ask the source daemon for. Always peer to peer, persistent on the destination and
 * undefined on the source, so the move is one call and leaves one definition. Disks are copied
 * whole (NON_SHARED_DISK: the backing chain flattened into a volume the destination makes in its
 * pool at the same path), not incrementally (NON_SHARED_INC), which would need the image on the
 * destination exactly as on the source *and* the overlay made there beforehand — libvirt refuses
 * to pre-create storage for an incremental copy.
 */
export function migrationCall(request: MigrationRequest): { flags: number; params: TypedParameter[] } {
  let flags = Flags.MIGRATE_PEER2PEER | Flags.MIGRATE_PERSIST_DEST | Flags.MIGRATE_UNDEFINE_SOURCE;
  const stopped = request.power === "Stopped" || request.power === "Crashed";
  if (stopped && request.copyDisks) {
    // libvirt copies disks through the running QEMU (NBD); a stopped domain has none.
    throw new UnsupportedError("a stopped VM's disks cannot be copied to a host that does not share its storage: start it first, or move it between hosts with the same shared storage", {
      reason: "offline-copy-unsupported",
    });
  }
  if (stopped) flags |= Flags.MIGRATE_OFFLINE;
  else if (request.live) flags |= Flags.MIGRATE_LIVE;
  // Shared disks are safe to migrate without cache=none (libvirt's check assumes otherwise);
  // copied disks are not shared, so the check does not apply to them.
  flags |= request.copyDisks ? Flags.MIGRATE_NON_SHARED_DISK : Flags.MIGRATE_UNSAFE;
  const params: TypedParameter[] = [];
  if (request.bandwidthMiBps !== undefined && !stopped) {
    params.push({ field: MigrateParam.BANDWIDTH, value: BigInt(Math.max(1, Math.ceil(request.bandwidthMiBps))), type: TypedParam.ULLong });
  }
  return { flags, params };
}

function numberField(fields: Map<string, TypedValue>, name: string): number | undefined {
  const v = fields.get(name);
  return typeof v === "bigint" || typeof v === "number" ? Number(v) : undefined;
}

/**
 * The migration out of this host that the job stats describe; undefined when no job runs or the
 * job is something else (a save, a dump, an incoming migration). Percent counts what is left to
 * send where libvirt says (memory pages dirtied again are sent again, so "processed" can pass the
 * total), else what was sent.
 */
export function progressOf(stats: JobStats): MigrationProgress | undefined {
  if (stats.type !== JobType.Bounded && stats.type !== JobType.Unbounded) return undefined;
  const operation = numberField(stats.fields, "operation");
  if (operation !== undefined && operation !== JobOperation.MigrationOut) return undefined;
  const progress: MigrationProgress = { percent: 0 };
  let total = 0;
  let done = 0;
  for (const part of ["memory", "disk"] as const) {
    const [t, p, r] = [numberField(stats.fields, `${part}_total`), numberField(stats.fields, `${part}_processed`), numberField(stats.fields, `${part}_remaining`)];
    if (t !== undefined) progress[`${part}TotalBytes`] = t;
    if (p !== undefined) progress[`${part}ProcessedBytes`] = p;
    if (r !== undefined) progress[`${part}RemainingBytes`] = r;
    if (t === undefined || t <= 0) continue;
    total += t;
    done += r !== undefined ? t - Math.min(r, t) : Math.min(p ?? 0, t);
  }
  progress.percent = total === 0 ? 0 : Math.min(100, Math.max(0, Math.floor((100 * done) / total)));
  return progress;
}

/** A completed migration's downtime ("downtime", ms); the result is empty when libvirt does not say. */
export function resultOf(completed: JobStats | undefined): MigrationResult {
  if (completed?.type !== JobType.Completed) return {};
  const downtime = numberField(completed.fields, "downtime");
  return downtime === undefined ? {} : { downtimeMs: downtime };
}
