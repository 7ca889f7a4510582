// The per-session index behind a driver's lookups by uid: uid → the hypervisor's handle of the
// VM (ESX moref, XAPI VM ref, Hyper-V VM Id). Without it, observeVm(identity) — and the lookups
// inside createVm, setPower, updateVm and deleteVm — listed the whole host, so one lookup cost
// grew with the VMs on the host and a pass over every VM with its square. With it, a lookup is
// one read of one VM. The index is fed by the driver's change feed (or its listings), and is
// never trusted blindly: a lookup checks that the VM it read still carries the uid it asked for
// (lookupByUid below), so a stale entry costs one extra read, never a wrong answer.
// Pure data, no I/O: the drivers decide how to read and how to feed it.

/** What a lookup does next for one uid. */
export type Route = { kind: "read"; ref: string } | { kind: "absent" } | { kind: "list" };

export interface UidIndexOptions {
  /**
   * How long after the last complete feed (baseline or listing) a miss is believed. Drivers whose
   * feed is drained before every lookup (ESXi, XenServer) never need to relist for a miss
   * (Infinity, the default); a polled index (Hyper-V) relists when its last listing is older.
   */
  trustMissesForMs?: number;
  now?: () => number;
}

export class UidIndex {
  readonly #refByUid = new Map<string, string>();
  readonly #uidByRef = new Map<string, string>();
  readonly #trustMissesForMs: number;
  readonly #now: () => number;
  /** When the index last saw every VM (a baseline or a listing); undefined: not synced yet. */
  #completeAt: number | undefined;

  constructor(options: UidIndexOptions = {}) {
    this.#trustMissesForMs = options.trustMissesForMs ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? Date.now;
  }

  get synced(): boolean {
    return this.#completeAt !== undefined;
  }

  get size(): number {
    return this.#refByUid.size;
  }

  /** A complete view of the host (a change feed's baseline): replaces the index, which is then synced. */
  reset(entries: Iterable<readonly [ref: string, uid: string | undefined]>): void {
    this.#refByUid.clear();
    this.#uidByRef.clear();
    this.merge(entries);
  }

  /**
   * A complete listing that may have started before a change this session already recorded (a
   * create that finished meanwhile): entries are added, nothing is dropped — a VM gone since is
   * found stale by the next lookup that reads it.
   */
  merge(entries: Iterable<readonly [ref: string, uid: string | undefined]>): void {
    for (const [ref, uid] of entries) this.put(ref, uid);
    this.#completeAt = this.#now();
  }

  /** A VM appeared or changed; `uid` undefined for an unmanaged VM (it is not indexed). */
  put(ref: string, uid: string | undefined): void {
    const before = this.#uidByRef.get(ref);
    if (before !== undefined && before !== uid) this.remove(ref);
    if (uid === undefined) return;
    const other = this.#refByUid.get(uid);
    if (other !== undefined && other !== ref) this.#uidByRef.delete(other);
    this.#refByUid.set(uid, ref);
    this.#uidByRef.set(ref, uid);
  }

  /** A VM left the host (or was found gone, or to carry another uid). */
  remove(ref: string): void {
    const uid = this.#uidByRef.get(ref);
    this.#uidByRef.delete(ref);
    if (uid !== undefined && this.#refByUid.get(uid) === ref) this.#refByUid.delete(uid);
  }

  /** The feed broke (a renewed session, lost events): nothing is believed until the next reset. */
  invalidate(): void {
    this.#refByUid.clear();
    this.#uidByRef.clear();
    this.#completeAt = undefined;
  }

  route(uid: string): Route {
    const ref = this.#refByUid.get(uid);
    if (ref !== undefined) return { kind: "read", ref };
    const fresh = this.#completeAt !== undefined && this.#now() - this.#completeAt <= this.#trustMissesForMs;
    return fresh ? { kind: "absent" } : { kind: "list" };
  }
}

/** How one driver reads: brings its index up to date, reads one VM, or lists them all. */
export interface LookupSteps<T> {
  /** Applies what the change feed has for the index (a drain), or nothing for a polled index. */
  refresh(): Promise<void>;
  /** One VM by its handle; undefined when it is gone. */
  read(ref: string): Promise<T | undefined>;
  uidOf(vm: T): string | undefined;
  /** Every VM, feeding the index as a complete view; returns the one carrying uid. */
  list(uid: string): Promise<T | undefined>;
}

/**
 * The VM carrying uid, or undefined. A hit is read and checked: a VM gone or now carrying
 * another uid is dropped from the index and the host listed once (the re-check) — so the
 * answer is never another uid's VM, and a VM removed outside is not reported.
 */
export async function lookupByUid<T>(index: UidIndex, uid: string, steps: LookupSteps<T>): Promise<T | undefined> {
  await steps.refresh();
  const route = index.route(uid);
  if (route.kind === "absent") return undefined;
  if (route.kind === "read") {
    const vm = await steps.read(route.ref);
    if (vm !== undefined && steps.uidOf(vm) === uid) return vm;
    index.remove(route.ref);
  }
  const listed = await steps.list(uid);
  return listed !== undefined && steps.uidOf(listed) === uid ? listed : undefined;
}
