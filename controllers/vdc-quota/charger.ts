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
// admitted (those run while the block keeps admitting), and giving a block back — when it has
// been idle for reservationHoldMs, or at once when another replica wants room. A request that
// lacks room only because other replicas hold it says so in the ledger (`wants`) and waits up to
// waitForRoomMs for it to be given back, judged again whenever the quota changes.
import type { VDCQuota } from "../../src/api/index.ts";
import { describeError, statusCode, type Logger } from "../../src/runtime/log.ts";
import { isZero, zero, type Usage } from "../../src/fleet/quota.ts";
import type { ChargeRequest, Ledger } from "./ledger.ts";
import { fitsRoom, minus, othersRoom, othersWant, ownReservation, reservationHoldMs, settle, sumOf, touches, waitForRoomMs, type Settle, type Settled } from "./reservation.ts";

/** Where quotas are read and their ledgers written. */
export interface QuotaStore {
  /** The namespace's quotas as last known (cache, or this process's own newer write). */
  list(namespace: string): VDCQuota[];
  /** One quota as the server has it now (undefined: deleted). */
  read(namespace: string, name: string): Promise<VDCQuota | undefined>;
  /** Replaces the ledger of `quota` if it is still at quota's resourceVersion (409 otherwise). */
  writeLedger(quota: VDCQuota, ledger: Ledger): Promise<VDCQuota>;
}

export interface ChargerOptions {
  /** This replica's name in status.reservations: unique per process start. */
  holder: string;
  holdMs?: number;
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
  /** No admission from it after this (clock ms): the holder gives it back. */
  until: number;
  /** A write that replaces the block is on its way. */
  frozen: boolean;
  timer?: NodeJS.Timeout;
}

const maxConflicts = 20;
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
  private readonly holdMs: number;
  private readonly waitMs: number;
  private readonly now: () => Date;
  private readonly clock: () => number;

  constructor(store: QuotaStore, log: Logger, options: ChargerOptions) {
    this.store = store;
    this.log = log;
    this.holder = options.holder;
    this.holdMs = options.holdMs ?? reservationHoldMs;
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

  /** What a dry run would answer: the same judgement, nothing taken or written (this replica's own block counts as free). */
  check(request: ChargeRequest): string | undefined {
    for (const quota of this.store.list(request.namespace)) {
      if (touches(quota, request.delta) === "none") continue;
      const block = this.blocks.get(quotaKey(quota));
      const why = settle(quota, { holder: this.holder, taken: block?.taken ?? [], requests: [request], room: "none", wants: false, now: this.now() }).refusals[0];
      if (why) return why;
    }
    return undefined;
  }

  /** The quota changed (cache): requests waiting for room are judged again; a block another replica wants is given back. */
  quotaChanged(quota: VDCQuota): void {
    const namespace = quota.metadata.namespace ?? "";
    const block = this.blocks.get(quotaKey(quota));
    const wanted = block !== undefined && othersWant(quota.status, this.holder);
    if ((this.parked.get(namespace)?.length ?? 0) > 0) this.retry.add(namespace);
    if (this.retry.has(namespace) || wanted) this.kick(namespace);
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
      if (!block || block.frozen || block.generation !== quota.metadata.generation || this.clock() >= block.until) return false;
      if (othersWant(quota.status, this.holder)) return false;
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
      const giveBack = this.clock() >= block.until || othersWant(quota.status, this.holder) || block.generation !== quota.metadata.generation;
      if (giveBack) return () => this.writeBlock(namespace, quota, "give back");
      if (block.taken.length > 0) return () => this.writeBlock(namespace, quota, "convert");
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
    const old = this.blocks.get(key);
    if (old?.timer) clearTimeout(old.timer);
    if (room.virtualMachines + room.cpus + room.memory + room.storage === 0 && taken.length === 0) {
      this.blocks.delete(key);
      return;
    }
    const namespace = quota.metadata.namespace ?? "";
    const until = sentAt + this.holdMs;
    const timer = setTimeout(() => this.kick(namespace), Math.max(0, until - this.clock()) + 5);
    timer.unref();
    this.blocks.set(key, { room, taken, generation: quota.metadata.generation, until, frozen: false, timer });
  }

  /** Converts what the block admitted into charges (the block goes on admitting meanwhile), or gives the block back. */
  private async writeBlock(namespace: string, quota: VDCQuota, what: "convert" | "give back"): Promise<void> {
    const key = quotaKey(quota);
    const block = this.blocks.get(key);
    const converting = block ? block.taken.length : 0;
    if (block && what === "give back") block.frozen = true;
    try {
      const done = await this.write(namespace, quota, () => ({
        holder: this.holder,
        taken: block ? block.taken.slice(0, converting) : [],
        requests: [],
        room: what === "convert" && block ? { keep: minus(block.room, sumOf(block.taken.slice(0, converting))) } : "none",
        wants: this.wantsRoom(namespace, quota),
        now: this.now(),
      }));
      const rest = block ? block.taken.slice(converting) : [];
      if (!done || (!done.written && what === "give back")) {
        this.drop(key);
        return;
      }
      this.log.debug(what === "convert" ? "reservation converted into charges" : "reservation given back", { quota: quota.metadata.name, charges: converting });
      if (done.written) this.remember(done.quota, done.out.room, done.sentAt, rest);
    } catch (err) {
      this.log.warn("could not write the quota's reservation", { quota: quota.metadata.name, error: describeError(err) });
      // the block stays as it was (still on the server); a frozen one admits nothing more and is tried again when it expires
      if (block) block.until = Math.min(block.until, this.clock());
      if (block) block.frozen = false;
      await new Promise((r) => setTimeout(r, 500).unref());
    }
  }

  /** Requests here wait while other replicas hold room: ask them for it. */
  private wantsRoom(namespace: string, quota: VDCQuota, waiting = false): boolean {
    return (waiting || (this.parked.get(namespace)?.length ?? 0) > 0) && !isZero(othersRoom(quota.status, this.holder));
  }

  private drop(key: string): void {
    const block = this.blocks.get(key);
    if (block?.timer) clearTimeout(block.timer);
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
