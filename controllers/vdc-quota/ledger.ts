// A VDCQuota's ledger, as pure functions: status.used / usedPerDriver and status.charges (what
// admission charged for objects the recount has not seen stored yet). admit() is what the webhook
// writes, in one resourceVersion-guarded update per batch; recount() is what the controller writes,
// from the stored VMs and VApps plus the charges still young enough to be on their way.
import type { DriverName, VDCQuota, VDCQuotaStatus } from "../../src/api/index.ts";
import { fromLimits, overLimit, plus, toLimits, zero, type Charge, type PerDriver, type Usage } from "../../src/fleet/quota.ts";

export type Ledger = Pick<VDCQuotaStatus, "used" | "usedPerDriver" | "charges">;
export type ChargeEntry = NonNullable<VDCQuotaStatus["charges"]>[number];

/** An admission request's charge: who, what it grows by (delta) and what it uses in all (full). */
export interface ChargeRequest {
  uid: string;
  kind: "VirtualMachine" | "VApp";
  name: string;
  namespace: string;
  delta: Charge;
  full: Charge;
}

export function usedOf(status: Ledger | undefined): Charge {
  const perDriver: PerDriver = new Map();
  for (const d of status?.usedPerDriver ?? []) perDriver.set(d.driver, fromLimits(d.used));
  return { total: fromLimits(status?.used), perDriver };
}

/** Per-driver usage as status lists it, sorted; absent when empty (what the server gives back). */
function perDriverList(m: PerDriver): { driver: DriverName; used: ReturnType<typeof toLimits> }[] | undefined {
  const list = [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([driver, u]) => ({ driver, used: toLimits(u) }));
  return list.length > 0 ? list : undefined;
}

/** Why the quota refuses this growth, or undefined when it fits. */
export function refusal(quota: VDCQuota, used: Charge, delta: Charge, namespace: string): string | undefined {
  const where = `(VDCQuota ${quota.metadata.name})`;
  const total = overLimit(plus(used.total, delta.total), quota.spec.hard);
  if (total) return `namespace ${namespace} ${total} ${where}`;
  for (const limit of quota.spec.perDriver ?? []) {
    const grows = delta.perDriver.get(limit.driver);
    if (!grows) continue;
    const over = overLimit(plus(used.perDriver.get(limit.driver) ?? zero(), grows), limit.hard);
    if (over) return `namespace ${namespace} ${over} on ${limit.driver} ${where}`;
  }
  return undefined;
}

export interface Admission {
  /** The ledger to write (unchanged when nothing was admitted). */
  ledger: Ledger;
  /** Per request, in order: why it was refused, or undefined when it was charged. */
  refusals: (string | undefined)[];
}

/** Charges each request that still fits, in order; a request that does not fit is refused whole. */
export function admit(quota: VDCQuota, requests: readonly ChargeRequest[], now: Date): Admission {
  const status = quota.status;
  if (status?.used === undefined) {
    const why = `VDCQuota ${quota.metadata.name} has not counted the namespace's usage yet; try again in a few seconds`;
    return { ledger: ledgerOf(status), refusals: requests.map(() => why) };
  }
  const used = usedOf(status);
  const charges = new Map((status.charges ?? []).map((c) => [c.uid, c]));
  const refusals = requests.map((r) => {
    const why = refusal(quota, used, r.delta, r.namespace);
    if (why) return why;
    used.total = plus(used.total, r.delta.total);
    for (const [d, u] of r.delta.perDriver) used.perDriver.set(d, plus(used.perDriver.get(d) ?? zero(), u));
    const perDriver = perDriverList(r.full.perDriver);
    charges.set(r.uid, { uid: r.uid, kind: r.kind, name: r.name, at: now.toISOString(), used: toLimits(r.full.total), ...(perDriver ? { usedPerDriver: perDriver } : {}) });
    return undefined;
  });
  if (refusals.every((r) => r !== undefined)) return { ledger: ledgerOf(status), refusals };
  return { ledger: { used: toLimits(used.total), usedPerDriver: perDriverList(used.perDriver), charges: [...charges.values()] }, refusals };
}

function ledgerOf(status: Ledger | undefined): Ledger {
  return { used: status?.used, usedPerDriver: status?.usedPerDriver, charges: status?.charges };
}

/** What the recount sees stored: each object by uid with its charge (VMs charged through a VApp are left out). */
export interface Stored {
  kind: "VirtualMachine" | "VApp";
  name: string;
  charge: Charge;
}

export interface Recount {
  ledger: Ledger;
  /** Charges dropped although their object was never seen: creates that were admitted but not stored. */
  released: ChargeEntry[];
  /** When the oldest charge still kept expires (ms from now), to look again then. */
  nextExpiryMs: number | undefined;
}

/**
 * The namespace's usage from what is stored, plus each charge younger than `graceMs` whose object
 * the cache does not show yet (or shows smaller: an update on its way). Older charges are dropped:
 * their object has been stored and seen by now, or it never will be.
 */
export function recount(status: Ledger | undefined, stored: ReadonlyMap<string, Stored>, now: Date, graceMs: number): Recount {
  const total: Charge = { total: zero(), perDriver: new Map() };
  const add = (c: Charge): void => {
    total.total = plus(total.total, c.total);
    for (const [d, u] of c.perDriver) total.perDriver.set(d, plus(total.perDriver.get(d) ?? zero(), u));
  };
  for (const s of stored.values()) add(s.charge);
  const kept: ChargeEntry[] = [];
  const released: ChargeEntry[] = [];
  let nextExpiryMs: number | undefined;
  for (const entry of status?.charges ?? []) {
    const age = now.getTime() - Date.parse(entry.at);
    const seen = stored.get(entry.uid);
    const charged: Charge = { total: fromLimits(entry.used), perDriver: new Map((entry.usedPerDriver ?? []).map((d) => [d.driver, fromLimits(d.used)])) };
    const extra = missing(charged, seen?.charge);
    if (!(age < graceMs) || extra === undefined) {
      if (!seen && !(age < graceMs)) released.push(entry);
      continue;
    }
    add(extra);
    const { fromReservation: _looked, ...counted } = entry; // counted once here: no longer possibly twice
    kept.push(counted);
    const left = graceMs - age;
    nextExpiryMs = nextExpiryMs === undefined ? left : Math.min(nextExpiryMs, left);
  }
  return { ledger: { used: toLimits(total.total), usedPerDriver: perDriverList(total.perDriver), charges: kept.length > 0 ? kept : undefined }, released, nextExpiryMs };
}

/** What a charge holds beyond what the stored object shows; undefined when the object shows it all. */
function missing(charged: Charge, seen: Charge | undefined): Charge | undefined {
  const base = seen ?? { total: zero(), perDriver: new Map<DriverName, Usage>() };
  const gap = (a: Usage, b: Usage): Usage => ({
    virtualMachines: Math.max(0, a.virtualMachines - b.virtualMachines),
    cpus: Math.max(0, a.cpus - b.cpus),
    memory: Math.max(0, a.memory - b.memory),
    storage: Math.max(0, a.storage - b.storage),
  });
  const out: Charge = { total: gap(charged.total, base.total), perDriver: new Map() };
  for (const [d, u] of charged.perDriver) out.perDriver.set(d, gap(u, base.perDriver.get(d) ?? zero()));
  const empty = (u: Usage): boolean => u.virtualMachines === 0 && u.cpus === 0 && u.memory === 0 && u.storage === 0;
  return empty(out.total) && [...out.perDriver.values()].every(empty) ? undefined : out;
}
