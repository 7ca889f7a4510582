import { describe, expect, it } from "vitest";
import type { VDCQuota } from "../../src/api/index.ts";
import { vmCharge } from "../../src/fleet/quota.ts";
import { admit, recount, type ChargeRequest, type Stored } from "./ledger.ts";

const now = new Date("2026-12-06T12:00:00.000Z");
const quota = (hard: VDCQuota["spec"]["hard"], status: VDCQuota["status"] = { used: { virtualMachines: 0, cpus: 0, memory: "0", storage: "0" } }, perDriver?: VDCQuota["spec"]["perDriver"]): VDCQuota => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VDCQuota",
  metadata: { name: "team-a", namespace: "team-a" },
  spec: { hard, ...(perDriver ? { perDriver } : {}) },
  status,
});
const vm = (name: string, cpus: number, driver?: "esxi" | "docker"): ChargeRequest => {
  const c = vmCharge({ spec: { cpus, memory: "1Gi", ...(driver ? { placement: { driver } } : {}) } as never });
  return { uid: `uid-${name}`, kind: "VirtualMachine", name, namespace: "team-a", delta: c, full: c };
};

describe("admit", () => {
  const cases: Record<string, { quota: VDCQuota; requests: ChargeRequest[]; refused: (string | undefined)[]; used?: object }> = {
    "charges in order until the limit, then refuses saying what and how much": {
      quota: quota({ cpus: 10 }),
      requests: [vm("a", 4), vm("b", 4), vm("c", 4)],
      refused: [undefined, undefined, "namespace team-a would use 12 vCPUs of 10 (VDCQuota team-a)"],
      used: { virtualMachines: 2, cpus: 8, memory: "2Gi" },
    },
    "a later smaller request still fits after a refusal": {
      quota: quota({ cpus: 10 }),
      requests: [vm("a", 8), vm("b", 4), vm("c", 2)],
      refused: [undefined, "namespace team-a would use 12 vCPUs of 10 (VDCQuota team-a)", undefined],
    },
    "a VM count": {
      quota: quota({ virtualMachines: 1 }),
      requests: [vm("a", 1), vm("b", 1)],
      refused: [undefined, "namespace team-a would use 2 VMs of 1 (VDCQuota team-a)"],
    },
    "memory, as a quantity": {
      quota: quota({ memory: "1536Mi" }),
      requests: [vm("a", 1), vm("b", 1)],
      refused: [undefined, "namespace team-a would use 2Gi of memory of 1536Mi (VDCQuota team-a)"],
    },
    "per driver only where the driver is known": {
      quota: quota({ cpus: 100 }, undefined, [{ driver: "esxi", hard: { virtualMachines: 1 } }]),
      requests: [],
      refused: [],
    },
    "a quota never counted refuses until it is": {
      quota: quota({ cpus: 10 }, {}),
      requests: [vm("a", 1)],
      refused: ["VDCQuota team-a has not counted the namespace's usage yet; try again in a few seconds"],
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const out = admit(c.quota, c.requests, now);
      expect(out.refusals).toEqual(c.refused);
      if (c.used) expect(out.ledger.used).toMatchObject(c.used);
    });
  }

  it("per-driver limits apply to VMs that name the driver", () => {
    const q = quota({ cpus: 100 }, { used: { virtualMachines: 0, cpus: 0, memory: "0", storage: "0" } }, [{ driver: "esxi", hard: { virtualMachines: 1 } }]);
    const out = admit(q, [vm("a", 1, "esxi"), vm("b", 1, "esxi"), vm("c", 1, "docker"), vm("d", 1)], now);
    expect(out.refusals).toEqual([undefined, "namespace team-a would use 2 VMs of 1 on esxi (VDCQuota team-a)", undefined, undefined]);
    expect(out.ledger.usedPerDriver).toEqual([
      { driver: "docker", used: { virtualMachines: 1, cpus: 1, memory: "1Gi", storage: "0" } },
      { driver: "esxi", used: { virtualMachines: 1, cpus: 1, memory: "1Gi", storage: "0" } },
    ]);
    expect(out.ledger.charges?.map((c) => c.name)).toEqual(["a", "c", "d"]);
  });
});

describe("recount", () => {
  const stored = (...names: string[]): Map<string, Stored> => new Map(names.map((n) => [`uid-${n}`, { kind: "VirtualMachine", name: n, charge: vm(n, 2).full }]));
  const charged = admit(quota({ cpus: 100 }), [vm("a", 2), vm("b", 2)], now).ledger;

  it("keeps a young charge whose object is not seen yet, drops one that is", () => {
    const out = recount(charged, stored("a"), new Date(now.getTime() + 1_000), 5_000);
    expect(out.ledger.used).toMatchObject({ virtualMachines: 2, cpus: 4 });
    expect(out.ledger.charges?.map((c) => c.name)).toEqual(["b"]);
    expect(out.released).toEqual([]);
    expect(out.nextExpiryMs).toBe(4_000);
  });

  it("a charge converted from a reservation is counted once and marked as looked at", () => {
    const converted = { ...charged, charges: charged.charges?.map((c) => ({ ...c, fromReservation: true })) };
    const out = recount(converted, stored("a"), new Date(now.getTime() + 1_000), 5_000);
    expect(out.ledger.used).toMatchObject({ virtualMachines: 2 });
    expect(out.ledger.charges).toEqual([expect.not.objectContaining({ fromReservation: true })]);
  });

  it("releases a charge whose object never got stored once the grace has passed", () => {
    const out = recount(charged, stored("a"), new Date(now.getTime() + 5_000), 5_000);
    expect(out.ledger.used).toMatchObject({ virtualMachines: 1, cpus: 2 });
    expect(out.ledger.charges).toBeUndefined();
    expect(out.released.map((c) => c.name)).toEqual(["b"]);
  });

  it("a recount with nothing changed gives the same ledger (no write)", () => {
    const first = recount(undefined, stored("a", "b"), now, 5_000).ledger;
    expect(recount(first, stored("a", "b"), now, 5_000).ledger).toEqual(first);
    expect(first).toEqual({ used: { virtualMachines: 2, cpus: 4, memory: "2Gi", storage: "0" }, usedPerDriver: undefined, charges: undefined });
  });

  it("an update on its way counts only what it grows by", () => {
    const grown = vm("a", 6);
    const ledger = admit(quota({ cpus: 100 }, recount(undefined, stored("a"), now, 5_000).ledger), [{ ...grown, delta: vm("a", 4).full }], now).ledger;
    expect(ledger.used).toMatchObject({ cpus: 6 });
    expect(recount(ledger, stored("a"), now, 5_000).ledger.used).toMatchObject({ virtualMachines: 1, cpus: 6 });
  });
});
