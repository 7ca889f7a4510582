// Charging a namespace's VDCQuotas at admission, exactly under concurrency and across replicas
// (ADR 0023, 0049). A request that fits this replica's headroom reservation in every quota that
// limits it is admitted at once, with no write: the room is already on the server, counted as used
// by every other replica. The others wait together and are settled as a batch, the way
// kube-apiserver's ResourceQuota admission does: each quota's ledger is judged and written with one
// update that carries the resourceVersion it was read at (a conflict re-reads and judges again),
// and the same write converts what the block admitted into charges and grants a new block. A
// request is answered only once its charge (or the block it came from) is on the server.
//
// One loop per namespace does the writes, one at a time: batches, conversions of what blocks
// admitted (those run while the block keeps admitting), taking a block early (at start, or when
// room is free again: before any request needs it, ADR 0050), and giving a block back — at once
// when another replica wants room, or when the recount revoked it. Blocks are kept at rest with no
// write: a block admits only while a read of the quota sent less than reservationValidityMs ago
// showed it there and not revoked (one list of the quotas every confirmEveryMs). A request that
// lacks room only because other replicas hold it says so in the ledger (`wants`) and waits up to
// waitForRoomMs for it to be given back, judged again whenever the quota changes.
import type { VDCQuota } from "../../src/api/index.ts";
import { describeError, statusCode, type Logger } from "../../src/runtime/log.ts";
import { fromLimits, isZero, plus, zero, type Usage } from "../../src/fleet/quota.ts";
import type { ChargeRequest, Ledger } from "./ledger.ts";
import { blockSize, confirmEveryMs, confirms, fitsRoom, limitedResources, minus, othersRoom, othersWant, ownReservation, reservationValidityMs, settle, sumOf, touches, validUntil, waitForRoomMs, type Settle, type Settled } from "./reservation.ts";

/** Where quotas are read and their ledgers written. */
export interface QuotaStore {
  /** The namespace's quotas as last known (cache, or this process's own newer write). */
  list(namespace: string): VDCQuota[];
  /** One quota as the server has it now (undefined: deleted). */
  read(namespace: string, name: string): Promise<VDCQuota | undefined>;
  /** Every quota this replica serves, as the server has it now (a consistent read: a list without resourceVersion). */
  readAll(): Promise<VDCQuota[]>;
  /** Replaces the ledger of `quota` if it is still at quota's resourceVersion (409 otherwise). */
  writeLedger(quota: VDCQuota, ledger: Ledger): Promise<VDCQuota>;
}

export interface ChargerOptions {
  /** This replica's name in status.reservations: unique per process start. */
  holder: string;
  /** How long a read or write that showed the block on the server lets it admit (reservationValidityMs). */
  validityMs?: number;
  /** How often the quota is read while a block is held (confirmEveryMs). */
  confirmMs?: number;
  waitMs?: number;
  now?: () => Date;
  /** A monotonic clock (ms). */
  clock?: () => number;
}

interface Waiter {
  request: ChargeRequest;
  resolve(refusal: string | undefined): void;
  reject(err: unknown): void;
  /** Set once it waits for room another replica holds: refused after this (clock ms). */
  waitUntil?: number;
}

/** This replica's block of one quota's room. */
interface Block {
  /** The room on the server, as this replica last wrote it. */
  room: Usage;
  /** Admitted from the block since it was last written: not charged yet. */
  taken: ChargeRequest[];
  /** The quota's generation when written: a changed spec stops admissions from the block. */
  generation: number | undefined;
  /** When the last read or write that showed the block standing on the server was sent (clock ms). */
  confirmedAt: number;
  /** A write that replaces the block is on its way. */
  frozen: boolean;
  /** A write of it failed or a read showed it gone or revoked: no admission from it; given back. */
  lost: boolean;
}

const maxConflicts = 20;
/** A block is taken early at most this often per quota. */
const warmEveryMs = 1_000;
const retryWaitingMs = 250;
const quotaKey = (q: VDCQuota): string => `${q.metadata.namespace}/${q.metadata.name}`;

export class Charger {
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly parked = new Map<string, Waiter[]>();
  private readonly blocks = new Map<string, Block>();
  private readonly running = new Set<string>();
  /** Namespaces whose waiting requests are due to be judged again (the quota changed, or a moment passed). */
  private readonly retry = new Set<string>();
  private readonly store: QuotaStore;
  private readonly log: Logger;
  private readonly holder: string;
  private readonly validityMs: number;
  private readonly confirmMs: number;
  private readonly waitMs: number;
  /** When a block was last taken early per quota (clock ms): at most one try a second. */
  private readonly warmedAt = new Map<string, number>();
  /** When this replica last gave a block back because another wanted room, per quota (clock ms). */
  private readonly gaveBackAt = new Map<string, number>();
  private confirmTimer: NodeJS.Timeout | undefined;
  /** A confirming read is on its way. */
  private confirming = false;
  private readonly now: () => Date;
  private readonly clock: () => number;

  constructor(store: QuotaStore, log: Logger, options: ChargerOptions) {
    this.store = store;
    this.log = log;
    this.holder = options.holder;
    this.validityMs = options.validityMs ?? reservationValidityMs;
    this.confirmMs = options.confirmMs ?? confirmEveryMs;
    this.waitMs = options.waitMs ?? waitForRoomMs;
    this.now = options.now ?? (() => new Date());
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Charges the request on every quota of its namespace; resolves with why it was refused, or undefined once charged. */
  charge(request: ChargeRequest): Promise<string | undefined> {
    if (this.takeFromBlocks(request)) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(request.namespace) ?? [];
      queue.push({ request, resolve, reject });
      this.waiting.set(request.namespace, queue);
      this.kick(request.namespace);
    });
  }

  /**
   * What a dry run would answer, nothing taken or written: judged against usage alone — the room
   * replicas hold (this one's and others') is given back when a real request needs it.
   */
  check(request: ChargeRequest): string | undefined {
    for (const listed of this.store.list(request.namespace)) {
      if (touches(listed, request.delta) === "none") continue;
      const quota: VDCQuota = { ...listed, status: { ...listed.status, reservations: undefined } };
      const block = this.blocks.get(quotaKey(quota));
      const why = settle(quota, { holder: this.holder, taken: block?.taken ?? [], requests: [request], room: "none", wants: false, now: this.now() }).refusals[0];
      if (why) return why;
    }
    return undefined;
  }

  /**
   * The quota changed (cache): requests waiting for room are judged again; a block another replica
   * wants, or the recount revoked, is given back; free room with no block here is taken early.
   */
  quotaChanged(quota: VDCQuota): void {
    const namespace = quota.metadata.namespace ?? "";
    const block = this.blocks.get(quotaKey(quota));
    const giveBack = block !== undefined && (othersWant(quota.status, this.holder) || ownReservation(quota.status, this.holder)?.revoked === true);
    if ((this.parked.get(namespace)?.length ?? 0) > 0) this.retry.add(namespace);
    if (this.retry.has(namespace) || giveBack || this.warmDue(quota)) this.kick(namespace);
  }

  /** Stops the confirming reads (the process is shutting down). */
  stop(): void {
    if (this.confirmTimer) clearInterval(this.confirmTimer);
    this.confirmTimer = undefined;
  }

  /** Whether this replica should take a block of the quota now, before any request needs it. */
  private warmDue(quota: VDCQuota): boolean {
    const key = quotaKey(quota);
    if (this.blocks.has(key) || quota.status?.used === undefined || limitedResources(quota).length === 0) return false;
    if (ownReservation(quota.status, this.holder) || othersWant(quota.status, this.holder)) return false;
    // at most one try a second, and none while a burst elsewhere may still want the room this replica gave back
    const last = this.warmedAt.get(key);
    if (last !== undefined && this.clock() - last < warmEveryMs) return false;
    const gaveBack = this.gaveBackAt.get(key);
    if (gaveBack !== undefined && this.clock() - gaveBack < this.waitMs) return false;
    return !isZero(blockSize(quota, plus(fromLimits(quota.status.used), othersRoom(quota.status, this.holder))));
  }

  /** Whether the block is to be given back: lost, wanted by another replica, revoked, or the quota's spec changed. */
  private givesBack(block: Block, quota: VDCQuota): boolean {
    return block.lost || othersWant(quota.status, this.holder) || ownReservation(quota.status, this.holder)?.revoked === true || block.generation !== quota.metadata.generation;
  }

  /** Another replica wanted this replica's room: no new block for a while, then look again (the quota may not change meanwhile). */
  private afterGivingBack(quota: VDCQuota): void {
    const key = quotaKey(quota);
    const namespace = quota.metadata.namespace ?? "";
    const now = this.clock();
    this.gaveBackAt.set(key, now);
    const delay = Math.max(this.waitMs, (this.warmedAt.get(key) ?? -Infinity) + warmEveryMs - now) + 10;
    setTimeout(() => {
      const quota = this.store.list(namespace).find((q) => quotaKey(q) === key);
      if (quota && this.warmDue(quota)) this.kick(namespace);
    }, delay).unref();
  }

  /** Whether the block may admit now: confirmed recently, standing, not being replaced. */
  private admits(block: Block): boolean {
    return !block.frozen && !block.lost && this.clock() < validUntil(block.confirmedAt, this.validityMs);
  }

  /** Admits the request from this replica's blocks when it fits all of them (no write); false: it needs the batch. */
  private takeFromBlocks(request: ChargeRequest): boolean {
    const quotas = this.store.list(request.namespace);
    const from: Block[] = [];
    for (const quota of quotas) {
      const how = touches(quota, request.delta);
      if (how === "none") continue;
      if (how === "perDriver") return false;
      const block = this.blocks.get(quotaKey(quota));
      if (!block || !this.admits(block) || block.generation !== quota.metadata.generation) return false;
      if (othersWant(quota.status, this.holder) || ownReservation(quota.status, this.holder)?.revoked === true) return false;
      if (!fitsRoom(quota, minus(block.room, sumOf(block.taken)), request.delta.total)) return false;
      from.push(block);
    }
    if (from.length === 0) return true; // it grows nothing any quota limits: nothing to charge (the recount counts it once stored)
    for (const block of from) block.taken.push(request);
    this.kick(request.namespace); // convert it into a charge, soon
    return true;
  }

  private kick(namespace: string): void {
    if (this.running.has(namespace)) return;
    this.running.add(namespace);
    void this.run(namespace);
  }

  /** The namespace's writes, one at a time, until none is left to do. */
  private async run(namespace: string): Promise<void> {
    try {
      for (let job = this.nextJob(namespace); job; job = this.nextJob(namespace)) await job();
    } finally {
      this.running.delete(namespace);
    }
  }

  private nextJob(namespace: string): (() => Promise<void>) | undefined {
    // waiting for room others hold: judged again (with the batch) each round
    const parked = this.parked.get(namespace) ?? [];
    if (parked.length > 0 && this.retry.delete(namespace)) {
      this.parked.set(namespace, []);
      this.waiting.set(namespace, [...parked, ...(this.waiting.get(namespace) ?? [])]);
    }
    const queue = (this.waiting.get(namespace) ?? []).filter((w) => !(this.takeFromBlocks(w.request) && (w.resolve(undefined), true)));
    this.waiting.set(namespace, []);
    if (queue.length > 0) return () => this.settleBatch(namespace, queue);
    const quotas = this.store.list(namespace);
    const listed = new Set(quotas.map(quotaKey));
    for (const key of this.blocks.keys()) if (key.startsWith(`${namespace}/`) && !listed.has(key)) this.drop(key); // quota deleted
    for (const quota of quotas) {
      const block = this.blocks.get(quotaKey(quota));
      if (!block) continue;
      if (this.givesBack(block, quota)) {
        if (othersWant(quota.status, this.holder)) this.afterGivingBack(quota);
        return () => this.writeBlock(namespace, quota, "give back");
      }
      if (block.taken.length > 0) return () => this.writeBlock(namespace, quota, "convert");
    }
    // free room and no block here: take one before a request needs it
    const cold = quotas.find((q) => this.warmDue(q));
    if (cold) {
      this.warmedAt.set(quotaKey(cold), this.clock());
      return () => this.writeBlock(namespace, cold, "reserve");
    }
    // a want left on the server with nobody waiting any more: clear it
    const stale = quotas.find((q) => ownReservation(q.status, this.holder)?.wants === true);
    if (stale && (this.parked.get(namespace)?.length ?? 0) === 0) return () => this.writeBlock(namespace, stale, "give back");
    return undefined;
  }

  /** One guarded write of this replica's part of the quota's ledger, judged again on each conflict. */
  private async write(namespace: string, quota: VDCQuota, input: (q: VDCQuota) => Settle): Promise<{ quota: VDCQuota; out: Settled; sentAt: number; written: boolean } | undefined> {
    for (let conflicts = 0; ; conflicts++) {
      const out = settle(quota, input(quota));
      if (!out.changed) return { quota, out, sentAt: this.clock(), written: false };
      const sentAt = this.clock();
      try {
        const stored = await this.store.writeLedger(quota, out.ledger);
        return { quota: stored, out, sentAt, written: true };
      } catch (err) {
        if (statusCode(err) === 404) return undefined; // deleted meanwhile: it limits nothing any more
        if (statusCode(err) !== 409 || conflicts >= maxConflicts) throw err;
        this.log.debug("quota changed meanwhile; reading it again", { quota: quota.metadata.name, conflicts: conflicts + 1 });
        const fresh = await this.store.read(namespace, quota.metadata.name);
        if (!fresh) return undefined; // deleted meanwhile: it limits nothing any more
        quota = fresh;
      }
    }
  }

  /** After a write: the block is what was written (taken: what was admitted from it meanwhile). */
  private remember(quota: VDCQuota, room: Usage, sentAt: number, taken: ChargeRequest[]): void {
    const key = quotaKey(quota);
    if (isZero(room) && taken.length === 0) {
      this.blocks.delete(key);
      if (this.warmDue(quota)) this.kick(quota.metadata.namespace ?? ""); // room freed meanwhile: take a block again
      return;
    }
    this.blocks.set(key, { room, taken, generation: quota.metadata.generation, confirmedAt: sentAt, frozen: false, lost: false });
    this.confirmTimer ??= setInterval(() => this.confirmAll(), this.confirmMs).unref();
  }

  /**
   * One read of every quota (a consistent list, never a write) confirms the blocks this replica
   * holds: one standing on the server, not revoked, admits for the validity after the read was
   * sent; one gone or revoked admits nothing more and is given back (what it admitted converted).
   * One request per interval however many quotas there are.
   */
  private confirmAll(): void {
    if (this.blocks.size === 0) {
      this.stop();
      return;
    }
    const namespaceOf = (key: string): string => key.slice(0, key.indexOf("/"));
    // a namespace whose writes run meanwhile: those writes confirm its blocks
    const idle = [...this.blocks.entries()].filter(([key, block]) => !block.lost && !this.running.has(namespaceOf(key)));
    if (this.confirming || idle.length === 0) return;
    this.confirming = true;
    const sentAt = this.clock();
    this.store.readAll().then(
      (quotas) => {
        this.confirming = false;
        const byKey = new Map(quotas.map((q) => [quotaKey(q), q]));
        for (const [key, block] of idle) {
          const namespace = namespaceOf(key);
          if (this.blocks.get(key) !== block || this.running.has(namespace) || block.frozen) continue; // replaced meanwhile: that write confirmed it
          const quota = byKey.get(key);
          if (quota && confirms(quota.status, this.holder)) {
            block.confirmedAt = Math.max(block.confirmedAt, sentAt);
            if (othersWant(quota.status, this.holder)) this.kick(namespace);
            continue;
          }
          block.lost = true;
          this.log.info("reservation found revoked or gone; giving it back", { quota: key });
          this.kick(namespace);
        }
      },
      (err: unknown) => {
        this.confirming = false; // not confirmed: the blocks stop admitting when their validity runs out
        this.log.debug("could not read the quotas to confirm the reservations", { error: describeError(err) });
      },
    );
  }

  /** Converts what the block admitted into charges (the block goes on admitting meanwhile), or gives the block back. */
  private async writeBlock(namespace: string, quota: VDCQuota, what: "convert" | "give back" | "reserve"): Promise<void> {
    const key = quotaKey(quota);
    const block = this.blocks.get(key);
    const converting = block ? block.taken.length : 0;
    if (block && what === "give back") block.frozen = true;
    try {
      const done = await this.write(namespace, quota, () => ({
        holder: this.holder,
        taken: block ? block.taken.slice(0, converting) : [],
        requests: [],
        room: what === "reserve" ? "grant" : what === "convert" && block ? { keep: minus(block.room, sumOf(block.taken.slice(0, converting))) } : "none",
        wants: this.wantsRoom(namespace, quota),
        now: this.now(),
      }));
      const rest = block ? block.taken.slice(converting) : [];
      if (!done || (!done.written && what === "give back")) {
        this.drop(key);
        return;
      }
      this.log.debug(what === "convert" ? "reservation converted into charges" : what === "reserve" ? "reservation taken" : "reservation given back", { quota: quota.metadata.name, charges: converting, room: done.out.room.virtualMachines });
      if (done.written) this.remember(done.quota, done.out.room, done.sentAt, rest);
    } catch (err) {
      this.log.warn("could not write the quota's reservation", { quota: quota.metadata.name, error: describeError(err) });
      // the block may or may not be on the server as written: it admits nothing more and is given back
      if (block) block.lost = true;
      if (block) block.frozen = false;
      await new Promise((r) => setTimeout(r, 500).unref());
    }
  }

  /** Requests here wait while other replicas hold room: ask them for it. */
  private wantsRoom(namespace: string, quota: VDCQuota, waiting = false): boolean {
    return (waiting || (this.parked.get(namespace)?.length ?? 0) > 0) && !isZero(othersRoom(quota.status, this.holder));
  }

  private drop(key: string): void {
    this.blocks.delete(key);
  }

  /** Settles a batch: every quota must admit a request; each write also converts this replica's taken requests and grants it a block. */
  private async settleBatch(namespace: string, batch: Waiter[]): Promise<void> {
    const started = performance.now();
    const requests = batch.map((w) => w.request);
    const refusals: (string | undefined)[] = requests.map(() => undefined);
    const held: boolean[] = requests.map(() => false);
    const heldWhy: (string | undefined)[] = requests.map(() => undefined);
    const quotas = this.store.list(namespace).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const open = (): number[] => requests.map((_, i) => i).filter((i) => refusals[i] === undefined && !held[i]);
    const take = (indexes: number[], out: Settled): void =>
      indexes.forEach((i, j) => {
        if (out.heldElsewhere[j]) {
          held[i] = true;
          heldWhy[i] ??= out.refusals[j];
        } else if (out.refusals[j]) refusals[i] = out.refusals[j];
      });
    const judge = (quota: VDCQuota, indexes: number[], room: Settle["room"]): Settle => ({
      holder: this.holder,
      taken: this.blocks.get(quotaKey(quota))?.taken ?? [],
      requests: indexes.map((i) => requests[i]!),
      room,
      wants: this.wantsRoom(namespace, quota, held.some(Boolean)),
      now: this.now(),
    });
    try {
      // Every quota must admit a request: a first look at all of them, so none is charged for a
      // request another refuses. (A quota that changes between this look and its write can still
      // refuse one the earlier quotas charged: that charge is released by the recount.)
      for (const quota of quotas) {
        const indexes = open();
        take(indexes, settle(quota, judge(quota, indexes, "none")));
      }
      for (const quota of quotas) {
        const indexes = open();
        const key = quotaKey(quota);
        const block = this.blocks.get(key);
        if (block) block.frozen = true;
        try {
          const done = await this.write(namespace, quota, (q) => judge(q, indexes, indexes.some((i) => touches(q, requests[i]!.delta) === "total") ? "grant" : { keep: minus(block?.room ?? zero(), sumOf(block?.taken ?? [])) }));
          if (!done) {
            this.drop(key);
            continue;
          }
          take(indexes, done.out);
          if (done.written) this.remember(done.quota, done.out.room, done.sentAt, []);
          else if (block) block.frozen = false;
        } catch (err) {
          if (block) block.frozen = false;
          throw err;
        }
      }
      this.log.debug("charge batch settled", { namespace, requests: batch.length, ms: Math.round(performance.now() - started) });
      const now = this.clock();
      const parked = this.parked.get(namespace) ?? [];
      batch.forEach((w, i) => {
        if (refusals[i] !== undefined || !held[i]) return void w.resolve(refusals[i]);
        if (w.waitUntil === undefined || now < w.waitUntil) {
          w.waitUntil ??= now + this.waitMs;
          parked.push(w);
          return;
        }
        const reserved = quotas.some((q) => !isZero(othersRoom(q.status, this.holder)));
        w.resolve(reserved ? `${heldWhy[i]}; part of that room is reserved by another replica of the webhook and was not given back within ${this.waitMs / 1000} s` : heldWhy[i]);
      });
      if (parked.length > 0) {
        this.parked.set(namespace, parked);
        this.log.debug("waiting for room another replica holds", { namespace, requests: parked.length });
        setTimeout(() => {
          this.retry.add(namespace);
          this.kick(namespace);
        }, retryWaitingMs).unref();
      }
    } catch (err) {
      this.log.warn("could not charge the namespace's quotas", { namespace, requests: batch.length, error: describeError(err) });
      for (const w of batch) w.reject(err);
    }
  }
}
