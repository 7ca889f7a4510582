// Headroom reservations (ADR 0049), as pure functions. A webhook replica holds a block of a quota's
// room in status.reservations — written, with the resourceVersion it read, before anything is
// admitted from it — and then admits requests that fit the block with no write of their own. What
// it admitted is converted into per-object charges afterwards (the block shrinks by as much in the
// same write). Every other replica counts the block as used, so the quota stays exact across
// replicas; a block is given back when its holder is idle for reservationHoldMs, at once when
// another replica says it wants room (`wants`), or — its holder dead — by the recount once it has
// seen it unchanged for reservationHoldMs plus the charge grace.
import type { VDCQuota, VDCQuotaStatus } from "../../src/api/index.ts";
import { fromLimits, limitOf, plus, resources, toLimits, zero, type Charge, type Resource, type Usage } from "../../src/fleet/quota.ts";
import { refusal, usedOf, type ChargeEntry, type ChargeRequest, type Ledger } from "./ledger.ts";

export type ReservationEntry = NonNullable<VDCQuotaStatus["reservations"]>[number];
export type LedgerWithRoom = Ledger & Pick<VDCQuotaStatus, "reservations">;

/** A holder admits from its block for this long after its last write of it, then gives it back. */
export const reservationHoldMs = 10_000;
/** A request that lacks room another replica holds waits this long for it to be given back. */
export const waitForRoomMs = 3_000;

/** The resources the quota limits in total (absent limits are unlimited). */
export function limitedResources(quota: VDCQuota): Resource[] {
  return resources.filter((r) => Number.isFinite(limitOf(quota.spec.hard, r)));
}

/**
 * How a request meets this quota: "none" when it grows nothing the quota limits, "perDriver" when
 * it grows a per-driver limit (those are charged write-through, blocks hold total room only),
 * else "total".
 */
export function touches(quota: VDCQuota, delta: Charge): "none" | "total" | "perDriver" {
  for (const limit of quota.spec.perDriver ?? []) if (delta.perDriver.has(limit.driver)) return "perDriver";
  return limitedResources(quota).some((r) => delta.total[r] > 0) ? "total" : "none";
}

export function minus(a: Usage, b: Usage): Usage {
  const d = (r: Resource): number => Math.max(0, a[r] - b[r]);
  return { virtualMachines: d("virtualMachines"), cpus: d("cpus"), memory: d("memory"), storage: d("storage") };
}

export function sumOf(requests: readonly ChargeRequest[]): Usage {
  return requests.reduce((sum, r) => plus(sum, r.delta.total), zero());
}

/** Whether `delta` fits `room` in every resource the quota limits. */
export function fitsRoom(quota: VDCQuota, room: Usage, delta: Usage): boolean {
  return limitedResources(quota).every((r) => delta[r] <= room[r]);
}

export function ownReservation(status: VDCQuotaStatus | undefined, holder: string): ReservationEntry | undefined {
  return status?.reservations?.find((r) => r.holder === holder);
}

/** The room every other replica holds. */
export function othersRoom(status: VDCQuotaStatus | undefined, holder: string): Usage {
  return (status?.reservations ?? []).filter((r) => r.holder !== holder).reduce((sum, r) => plus(sum, fromLimits(r.room)), zero());
}

/** Whether another replica waits for room (then this one holds none). */
export function othersWant(status: VDCQuotaStatus | undefined, holder: string): boolean {
  return (status?.reservations ?? []).some((r) => r.holder !== holder && r.wants === true);
}

/** Half of what is left in each limited resource: none at all when any of them has no room left (near the limit, every request is written through). */
export function blockSize(quota: VDCQuota, counted: Usage): Usage {
  const room = zero();
  const limited = limitedResources(quota);
  for (const r of limited) room[r] = Math.floor(Math.max(0, limitOf(quota.spec.hard, r) - counted[r]) / 2);
  return limited.length > 0 && limited.every((r) => room[r] > 0) ? room : zero();
}

export interface Settle {
  holder: string;
  /** Admitted from this holder's block and not yet charged: charged now, the block shrinks by as much. */
  taken: readonly ChargeRequest[];
  /** To judge now, in order, against the room no other replica holds. */
  requests: readonly ChargeRequest[];
  /**
   * The block to keep: `{ keep }` holds exactly that (a conversion while admissions from the block
   * go on: the block on the server minus what is converted); `"grant"` a new block of half the room
   * left (none while another replica wants room); `"none"` gives the block back.
   */
  room: { keep: Usage } | "grant" | "none";
  /** This holder waits for room others hold (set as well when a request here is refused only for lack of it). */
  wants: boolean;
  now: Date;
}

export interface Settled {
  ledger: LedgerWithRoom;
  /** Per request: why it was refused, or undefined when it was charged. */
  refusals: (string | undefined)[];
  /** Per request: refused, but it would fit without the room others hold and the charges the recount has not looked at: it waits. */
  heldElsewhere: boolean[];
  /** This holder's block after the write (zero: none). */
  room: Usage;
  /** Whether the ledger differs from the quota's (else nothing needs writing). */
  changed: boolean;
}

function entryOf(r: ChargeRequest, at: string, fromReservation: boolean): ChargeEntry {
  const perDriver = [...r.full.perDriver.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([driver, u]) => ({ driver, used: toLimits(u) }));
  return { uid: r.uid, kind: r.kind, name: r.name, at, used: toLimits(r.full.total), ...(perDriver.length > 0 ? { usedPerDriver: perDriver } : {}), ...(fromReservation ? { fromReservation } : {}) };
}

const isZeroUsage = (u: Usage): boolean => resources.every((r) => u[r] === 0);
const sameUsage = (a: Usage, b: Usage): boolean => resources.every((r) => a[r] === b[r]);

/** The namespace's usage and charges as a write builds them up. */
class Book {
  readonly used: Charge;
  readonly charges: Map<string, ChargeEntry>;
  grew = false;
  private readonly at: string;
  constructor(status: VDCQuotaStatus | undefined, at: string) {
    this.used = usedOf(status);
    this.charges = new Map((status?.charges ?? []).map((c) => [c.uid, c]));
    this.at = at;
  }
  add(r: ChargeRequest, fromReservation = false): void {
    this.used.total = plus(this.used.total, r.delta.total);
    for (const [d, u] of r.delta.perDriver) this.used.perDriver.set(d, plus(this.used.perDriver.get(d) ?? zero(), u));
    this.charges.set(r.uid, entryOf(r, this.at, fromReservation));
    this.grew = true;
  }
  /**
   * Usage that is surely there: the charges converted from a reservation may count objects the
   * recount already counted as stored (it saw them before the conversion was written).
   */
  surely(): Charge {
    const out: Charge = { total: this.used.total, perDriver: new Map(this.used.perDriver) };
    for (const c of this.charges.values()) {
      if (!c.fromReservation) continue;
      out.total = minus(out.total, fromLimits(c.used));
      for (const d of c.usedPerDriver ?? []) out.perDriver.set(d.driver, minus(out.perDriver.get(d.driver) ?? zero(), fromLimits(d.used)));
    }
    return out;
  }
  ledger(reservations: ReservationEntry[]): LedgerWithRoom {
    const perDriver = [...this.used.perDriver.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([driver, u]) => ({ driver, used: toLimits(u) }));
    return {
      used: toLimits(this.used.total),
      usedPerDriver: perDriver.length > 0 ? perDriver : undefined,
      charges: this.charges.size > 0 ? [...this.charges.values()] : undefined,
      reservations: reservations.length > 0 ? reservations : undefined,
    };
  }
}

/**
 * Judges the requests in order against what is used plus the room others hold, charging each that
 * fits. A refusal that might not stand — the request would fit in what is surely used, without the
 * room others hold — is marked to wait: until the others give their room back, and the recount
 * has looked at the charges converted from reservations.
 */
function judge(quota: VDCQuota, book: Book, others: Usage, requests: readonly ChargeRequest[]): { refusals: (string | undefined)[]; heldElsewhere: boolean[] } {
  const refusals: (string | undefined)[] = [];
  const heldElsewhere: boolean[] = [];
  const counted = (): Charge => ({ total: plus(book.used.total, others), perDriver: book.used.perDriver });
  for (const r of requests) {
    if (quota.status?.used === undefined) {
      refusals.push(`VDCQuota ${quota.metadata.name} has not counted the namespace's usage yet; try again in a few seconds`);
      heldElsewhere.push(false);
      continue;
    }
    const why = refusal(quota, counted(), r.delta, r.namespace);
    refusals.push(why);
    heldElsewhere.push(why !== undefined && refusal(quota, book.surely(), r.delta, r.namespace) === undefined);
    if (!why) book.add(r);
  }
  return { refusals, heldElsewhere };
}

/** This holder's block after the write. */
function roomAfter(quota: VDCQuota, input: Settle, counted: Usage): Usage {
  const status = quota.status;
  if (input.room === "none") return zero();
  if (input.room === "grant") return othersWant(status, input.holder) || status?.used === undefined ? zero() : blockSize(quota, counted);
  return ownReservation(status, input.holder) ? input.room.keep : zero(); // a block the server no longer has is gone
}

/**
 * One write of this holder's part of a quota's ledger: its taken requests become charges, the
 * requests are judged in order against the room no other replica holds (this holder's own block
 * counts as free: the write replaces it), and its block is kept, granted or given back.
 */
export function settle(quota: VDCQuota, input: Settle): Settled {
  const status = quota.status;
  const { holder } = input;
  const at = input.now.toISOString();
  const book = new Book(status, at);
  for (const t of input.taken) book.add(t, true);
  const others = othersRoom(status, holder);
  const { refusals, heldElsewhere } = judge(quota, book, others, input.requests);
  const room = roomAfter(quota, input, plus(book.used.total, others));
  const wants = input.wants || (heldElsewhere.some(Boolean) && !isZeroUsage(others));
  const mine = ownReservation(status, holder);
  const entry: ReservationEntry | undefined = isZeroUsage(room) && !wants ? undefined : { holder, room: toLimits(room), at, ...(wants ? { wants: true } : {}) };
  const rest = (status?.reservations ?? []).filter((r) => r.holder !== holder);
  const reservations = [...rest, ...(entry ? [entry] : [])].sort((a, b) => (a.holder < b.holder ? -1 : 1));
  const entryChanged = mine === undefined || entry === undefined ? mine !== entry : !sameUsage(fromLimits(mine.room), room) || (mine.wants ?? false) !== wants;
  return { ledger: book.ledger(reservations), refusals, heldElsewhere, room, changed: book.grew || entryChanged };
}

/** When the recount first saw a reservation as it is now (its `at`), by its own monotonic clock. */
export interface Sighting {
  at: string;
  sinceMs: number;
}

export interface Expiry {
  kept: ReservationEntry[];
  expired: ReservationEntry[];
  /** When the next kept one expires (ms from now), to look again then. */
  nextMs: number | undefined;
  /** The sightings to keep for next time. */
  seen: Map<string, Sighting>;
}

/**
 * Reservations the recount drops: those it has seen unchanged for `limitMs` by its own clock. No
 * clock of another replica is compared: the holder stops admitting from a block reservationHoldMs
 * after it *sent* the write, which is before the recount can have seen it, so `limitMs` (the hold
 * plus the charge grace, for what was admitted last to be stored and seen) is a margin, whatever
 * the replicas' clocks say. A new recount process starts its sightings afresh: later, never earlier.
 */
export function expire(entries: readonly ReservationEntry[], seen: ReadonlyMap<string, Sighting>, nowMs: number, limitMs: number): Expiry {
  const out: Expiry = { kept: [], expired: [], nextMs: undefined, seen: new Map() };
  for (const e of entries) {
    const before = seen.get(e.holder);
    const sighting = before && before.at === e.at ? before : { at: e.at, sinceMs: nowMs };
    const left = sighting.sinceMs + limitMs - nowMs;
    if (left <= 0) {
      out.expired.push(e);
      continue;
    }
    out.kept.push(e);
    out.seen.set(e.holder, sighting);
    out.nextMs = out.nextMs === undefined ? left : Math.min(out.nextMs, left);
  }
  return out;
}
