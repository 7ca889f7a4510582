import { describe, expect, it } from "vitest";
import type { VDCQuota } from "../../src/api/index.ts";
import { vmCharge } from "../../src/fleet/quota.ts";
import type { ChargeRequest } from "./ledger.ts";
import { blockSize, expire, othersRoom, settle, touches, type ReservationEntry } from "./reservation.ts";

const now = new Date("2026-12-07T12:00:00.000Z");
const zeroUsed = { virtualMachines: 0, cpus: 0, memory: "0", storage: "0" };
const quota = (hard: VDCQuota["spec"]["hard"], status: VDCQuota["status"] = { used: zeroUsed }, perDriver?: VDCQuota["spec"]["perDriver"]): VDCQuota => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VDCQuota",
  metadata: { name: "q", namespace: "team-a", generation: 1 },
  spec: { hard, ...(perDriver ? { perDriver } : {}) },
  status,
});
const vm = (name: string, cpus = 1, driver?: "esxi"): ChargeRequest => {
  const c = vmCharge({ spec: { cpus, memory: "1Gi", ...(driver ? { placement: { driver } } : {}) } as never });
  return { uid: `uid-${name}`, kind: "VirtualMachine", name, namespace: "team-a", delta: c, full: c };
};
const held = (holder: string, vms: number, extra: Partial<ReservationEntry> = {}): ReservationEntry => ({ holder, room: { virtualMachines: vms, cpus: 0, memory: "0", storage: "0" }, at: now.toISOString(), ...extra });

describe("settle", () => {
  it("charges what fits and grants half of the room left as a block", () => {
    const out = settle(quota({ virtualMachines: 10 }), { holder: "a", taken: [], requests: [vm("x")], room: "grant", wants: false, now });
    expect(out.refusals).toEqual([undefined]);
    expect(out.ledger.used).toMatchObject({ virtualMachines: 1 });
    expect(out.ledger.charges?.map((c) => c.name)).toEqual(["x"]);
    expect(out.room.virtualMachines).toBe(4); // half of the 9 left
    expect(out.ledger.reservations).toEqual([{ holder: "a", room: { virtualMachines: 4, cpus: 0, memory: "0", storage: "0" }, at: now.toISOString() }]);
    expect(out.changed).toBe(true);
  });

  it("counts room other replicas hold as used; a request refused only for it is marked, and says it wants room", () => {
    const q = quota({ virtualMachines: 10 }, { used: { ...zeroUsed, virtualMachines: 6 }, reservations: [held("b", 4)] });
    const out = settle(q, { holder: "a", taken: [], requests: [vm("x")], room: "grant", wants: false, now });
    expect(out.refusals).toEqual(["namespace team-a would use 11 VMs of 10 (VDCQuota q)"]);
    expect(out.heldElsewhere).toEqual([true]);
    expect(out.ledger.reservations).toEqual([{ holder: "a", room: { virtualMachines: 0, cpus: 0, memory: "0", storage: "0" }, at: now.toISOString(), wants: true }, held("b", 4)]);
  });

  it("a request over the limit even without others' blocks is not marked as waiting", () => {
    const q = quota({ virtualMachines: 10 }, { used: { ...zeroUsed, virtualMachines: 10 }, reservations: [held("b", 0, { wants: true })] });
    const out = settle(q, { holder: "a", taken: [], requests: [vm("x")], room: "grant", wants: false, now });
    expect(out.heldElsewhere).toEqual([false]);
    expect(out.changed).toBe(false);
  });

  it("converts taken requests into charges and keeps the block shrunk by as much (a conversion)", () => {
    const q = quota({ virtualMachines: 10 }, { used: { ...zeroUsed, virtualMachines: 1 }, reservations: [held("a", 4)] });
    const out = settle(q, { holder: "a", taken: [vm("x"), vm("y")], requests: [], room: { keep: { virtualMachines: 2, cpus: 0, memory: 0, storage: 0 } }, wants: false, now });
    expect(out.ledger.used).toMatchObject({ virtualMachines: 3 });
    expect(out.ledger.charges?.map((c) => c.name)).toEqual(["x", "y"]);
    expect(out.ledger.reservations?.[0]?.room.virtualMachines).toBe(2);
  });

  it("a block the server no longer has is not written back by a conversion", () => {
    const q = quota({ virtualMachines: 10 }, { used: zeroUsed });
    const out = settle(q, { holder: "a", taken: [vm("x")], requests: [], room: { keep: { virtualMachines: 3, cpus: 0, memory: 0, storage: 0 } }, wants: false, now });
    expect(out.ledger.reservations).toBeUndefined();
    expect(out.ledger.used).toMatchObject({ virtualMachines: 1 });
  });

  it("gives the block back; its own room counts as free for the requests of the same write", () => {
    const q = quota({ virtualMachines: 10 }, { used: { ...zeroUsed, virtualMachines: 6 }, reservations: [held("a", 4)] });
    const out = settle(q, { holder: "a", taken: [], requests: [vm("x"), vm("y"), vm("z"), vm("w"), vm("v")], room: "none", wants: false, now });
    expect(out.refusals.filter((r) => r === undefined)).toHaveLength(4);
    expect(out.ledger.reservations).toBeUndefined();
  });

  it("grants no block while another replica wants room", () => {
    const q = quota({ virtualMachines: 10 }, { used: zeroUsed, reservations: [held("b", 0, { wants: true })] });
    const out = settle(q, { holder: "a", taken: [], requests: [vm("x")], room: "grant", wants: false, now });
    expect(out.refusals).toEqual([undefined]);
    expect(out.room.virtualMachines).toBe(0);
    expect(out.ledger.reservations).toEqual([held("b", 0, { wants: true })]);
  });

  it("a refusal that counts charges converted from a reservation waits (the recount may count their objects already), asking nobody for room", () => {
    const q = quota({ virtualMachines: 2 }, { used: zeroUsed, reservations: [held("a", 1)] });
    const out = settle(q, { holder: "a", taken: [vm("x")], requests: [vm("y"), vm("z")], room: "grant", wants: false, now });
    expect(out.ledger.charges?.find((c) => c.name === "x")?.fromReservation).toBe(true);
    expect(out.refusals).toEqual([undefined, "namespace team-a would use 3 VMs of 2 (VDCQuota q)"]);
    expect(out.heldElsewhere).toEqual([false, true]); // x may be counted twice: stored (by the recount) and charged
    expect(out.ledger.reservations).toBeUndefined();
  });

  it("writes nothing when nothing changes", () => {
    const q = quota({ virtualMachines: 10 }, { used: { ...zeroUsed, virtualMachines: 10 } });
    expect(settle(q, { holder: "a", taken: [], requests: [vm("x")], room: "grant", wants: false, now }).changed).toBe(false);
  });
});

describe("block size and what a block covers", () => {
  it("half of the room left in every limited resource, none when any has none left", () => {
    const q = quota({ virtualMachines: 10, cpus: 20 });
    expect(blockSize(q, { virtualMachines: 2, cpus: 4, memory: 0, storage: 0 })).toEqual({ virtualMachines: 4, cpus: 8, memory: 0, storage: 0 });
    expect(blockSize(q, { virtualMachines: 9, cpus: 4, memory: 0, storage: 0 })).toEqual({ virtualMachines: 0, cpus: 0, memory: 0, storage: 0 });
  });

  it("memory in bytes", () => {
    expect(blockSize(quota({ memory: "4Gi" }), { virtualMachines: 0, cpus: 0, memory: 2 ** 30, storage: 0 }).memory).toBe(1.5 * 2 ** 30);
  });

  it("per-driver limits are written through; unlimited growth touches nothing", () => {
    const q = quota({ cpus: 10 }, undefined, [{ driver: "esxi", hard: { virtualMachines: 1 } }]);
    expect(touches(q, vm("a", 1, "esxi").delta)).toBe("perDriver");
    expect(touches(q, vm("a", 1).delta)).toBe("total");
    expect(touches(quota({ memory: "1Ti" }), { total: { virtualMachines: 1, cpus: 4, memory: 0, storage: 0 }, perDriver: new Map() })).toBe("none");
  });

  it("others' room adds up, own room is left out", () => {
    expect(othersRoom({ reservations: [held("a", 3), held("b", 2), held("c", 1)] }, "a").virtualMachines).toBe(3);
  });
});

describe("expire", () => {
  it("drops a reservation seen unchanged for the limit by the recount's own clock, whatever its time says", () => {
    const first = expire([held("a", 2, { at: "2020-01-01T00:00:00.000Z" })], new Map(), 1_000, 15_000);
    expect(first.kept).toHaveLength(1);
    expect(first.nextMs).toBe(15_000);
    const later = expire([held("a", 2, { at: "2020-01-01T00:00:00.000Z" })], first.seen, 16_000, 15_000);
    expect(later.expired.map((e) => e.holder)).toEqual(["a"]);
  });

  it("a rewritten reservation starts afresh", () => {
    const first = expire([held("a", 2, { at: "t1" })], new Map(), 1_000, 15_000);
    const rewritten = expire([held("a", 2, { at: "t2" })], first.seen, 16_000, 15_000);
    expect(rewritten.kept).toHaveLength(1);
    expect(rewritten.nextMs).toBe(15_000);
  });
});
