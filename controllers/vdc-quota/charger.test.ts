// The charger's protocol over an in-memory quota store that keeps resourceVersions as the API
// server does (a write at an old one gets 409) and takes a few ms per write; each replica's view
// is its own cache, updated a moment after each write (as a watch would). The real API server and
// webhook are exercised in tests/quota/.
import { describe, expect, it } from "vitest";
import type { VDCQuota } from "../../src/api/index.ts";
import { fromLimits, vmCharge } from "../../src/fleet/quota.ts";
import { createLogger } from "../../src/runtime/log.ts";
import { Charger, type QuotaStore } from "./charger.ts";
import type { ChargeRequest, Ledger } from "./ledger.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = createLogger({ level: "error" });

class Server {
  quota: VDCQuota;
  writes = 0;
  reads = 0;
  /** Reads fail (the API server cannot be reached). */
  unreachable = false;
  readonly watchers: ((q: VDCQuota) => void)[] = [];
  constructor(hard: VDCQuota["spec"]["hard"], name = "q") {
    this.quota = { apiVersion: "omnivisor.io/v1alpha1", kind: "VDCQuota", metadata: { name, namespace: "ns", generation: 1, resourceVersion: "1" }, spec: { hard }, status: { used: { virtualMachines: 0, cpus: 0, memory: "0", storage: "0" } } };
  }
  /** One replica's view of this quota alone. */
  replica(holder: string, options: Options = {}): { charger: Charger } {
    return replica([this], holder, options);
  }
  put(q: VDCQuota): void {
    this.writes++;
    this.quota = { ...structuredClone(q), metadata: { ...q.metadata, resourceVersion: String(Number(this.quota.metadata.resourceVersion) + 1) } };
    const snapshot = structuredClone(this.quota);
    setTimeout(() => this.watchers.forEach((w) => w(snapshot)), 2);
    if (snapshot.status?.charges?.some((c) => c.fromReservation)) setTimeout(() => this.recount(), 10);
  }
  /** The recount's part here (nothing is ever stored): it has looked at the charges converted from reservations. */
  private recount(): void {
    const charges = this.quota.status?.charges?.map(({ fromReservation: _, ...c }) => c);
    this.put({ ...this.quota, status: { ...this.quota.status, charges } });
  }
  /** What the recount would say once everything admitted is stored: charges plus nothing held. */
  used(r: "virtualMachines" | "cpus" = "virtualMachines"): number {
    return fromLimits(this.quota.status?.used)[r];
  }
}

/** One replica's view of the namespace's quotas: a cache per quota fed by a watch, plus its own writes. */
type Options = { validityMs?: number; confirmMs?: number; waitMs?: number };

function replica(servers: Server[], holder: string, options: Options = {}): { charger: Charger } {
  const cached = new Map(servers.map((sv) => [sv.quota.metadata.name, structuredClone(sv.quota)]));
  let charger: Charger | undefined = undefined;
  const server = (name: string): Server => servers.find((sv) => sv.quota.metadata.name === name)!;
  for (const sv of servers) {
    sv.watchers.push((q) => {
      cached.set(q.metadata.name, structuredClone(q));
      charger?.quotaChanged(q);
    });
  }
  const store: QuotaStore = {
    list: () => [...cached.values()],
    read: (_ns, name) => Promise.resolve(structuredClone(server(name).quota)),
    readAll: () => {
      for (const sv of servers) sv.reads++;
      return servers.some((sv) => sv.unreachable) ? Promise.reject(new Error("connection refused")) : Promise.resolve(servers.map((sv) => structuredClone(sv.quota)));
    },
    writeLedger: async (q: VDCQuota, ledger: Ledger) => {
      const sv = server(q.metadata.name);
      await sleep(3);
      if (q.metadata.resourceVersion !== sv.quota.metadata.resourceVersion) throw Object.assign(new Error("conflict"), { code: 409 });
      sv.put({ ...sv.quota, status: { ...sv.quota.status, ...ledger } });
      cached.set(q.metadata.name, structuredClone(sv.quota));
      return structuredClone(sv.quota);
    },
  };
  charger = new Charger(store, log, { holder, ...options });
  return { charger };
}

const vm = (name: string): ChargeRequest => {
  const c = vmCharge({ spec: { cpus: 1, memory: "64Mi" } as never });
  return { uid: `uid-${name}`, kind: "VirtualMachine", name, namespace: "ns", delta: c, full: c };
};
const admitted = (answers: (string | undefined)[]): number => answers.filter((a) => a === undefined).length;

describe("Charger", () => {
  it("one replica: 50 at once against 10 admits exactly 10, and converts what its block admitted into charges", async () => {
    const server = new Server({ virtualMachines: 10 });
    const { charger } = server.replica("a");
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => charger.charge(vm(`v${i}`))));
    expect(admitted(answers)).toBe(10);
    expect(answers.find((a) => a !== undefined)).toBe("namespace ns would use 11 VMs of 10 (VDCQuota q)");
    await sleep(50);
    expect(server.used()).toBe(10);
    expect(server.quota.status?.charges).toHaveLength(10);
    expect(server.quota.status?.reservations).toBeUndefined();
  });

  it("a block is taken before any request needs it, admits with no write, and is kept at rest with reads only", async () => {
    const server = new Server({ virtualMachines: 1000 });
    const { charger } = server.replica("a", { validityMs: 200, confirmMs: 50 });
    charger.quotaChanged(server.quota); // the webhook's cache lists the quota at start
    await sleep(30);
    expect(server.quota.status?.reservations?.map((r) => [r.holder, r.room.virtualMachines])).toEqual([["a", 500]]);
    const before = server.writes;
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => charger.charge(vm(`v${i}`))));
    expect(admitted(answers)).toBe(50);
    expect(server.writes, "answered before any write").toBe(before);
    await sleep(50);
    expect(server.writes - before, "a few conversions (and the recount's look at each), not one write per create").toBeLessThanOrEqual(6);
    expect(server.used()).toBe(50);
    const quiet = server.writes;
    const reads = server.reads;
    await sleep(1_000); // five validities
    expect(server.writes, "nothing written at rest").toBe(quiet);
    expect(server.reads - reads, "the block confirmed by reads").toBeGreaterThan(5);
    expect(server.quota.status?.reservations?.[0]?.room.virtualMachines, "kept").toBe(450);
    expect(await charger.charge(vm("after-idle"))).toBeUndefined();
    expect(server.writes, "the first request after idle waits for no write").toBe(quiet);
  });

  it("a block that reads cannot confirm stops admitting after the validity", async () => {
    const server = new Server({ virtualMachines: 100 });
    const { charger } = server.replica("a", { validityMs: 150, confirmMs: 40 });
    charger.quotaChanged(server.quota);
    await sleep(30);
    server.unreachable = true;
    await sleep(300);
    const before = server.writes;
    expect(await charger.charge(vm("x"))).toBeUndefined(); // admitted, but through a write
    expect(server.writes, "written through, not taken from the unconfirmed block").toBeGreaterThan(before);
  });

  it("a block the recount revoked admits nothing more once a read shows it, and is given back with what it admitted charged", async () => {
    const server = new Server({ virtualMachines: 10 });
    const { charger } = server.replica("a", { validityMs: 60_000, confirmMs: 30 });
    charger.quotaChanged(server.quota);
    await sleep(30);
    expect(await charger.charge(vm("x"))).toBeUndefined();
    await sleep(30);
    // the recount revokes it, as the server stores it (the replica's cache does not show it: only its reads do)
    const status = server.quota.status!;
    server.quota = { ...server.quota, metadata: { ...server.quota.metadata, resourceVersion: String(Number(server.quota.metadata.resourceVersion) + 1) }, status: { ...status, reservations: status.reservations!.map((r) => ({ ...r, revoked: true })) } };
    await sleep(100);
    expect(server.quota.status?.reservations, "given back").toBeUndefined();
    expect(server.used()).toBe(1);
  });

  it("two replicas, 50 at once spread over both, against 10: exactly 10 between them", async () => {
    for (let round = 0; round < 5; round++) {
      const server = new Server({ virtualMachines: 10 });
      const a = server.replica("a");
      const b = server.replica("b");
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? a : b).charger.charge(vm(`v${i}`))));
      expect(admitted(answers), `round ${round}`).toBe(10);
      await sleep(100);
      expect(server.used()).toBe(10);
    }
  });

  it("room one replica holds is given back when another wants it", async () => {
    const server = new Server({ virtualMachines: 4 });
    const a = server.replica("a");
    const b = server.replica("b", { waitMs: 3_000 });
    expect(await a.charger.charge(vm("a1"))).toBeUndefined();
    await sleep(20);
    expect(server.quota.status?.reservations?.find((r) => r.holder === "a")?.room.virtualMachines).toBe(1); // half of the 3 left
    // b needs 3: 1 of them is in a's block
    const answers = await Promise.all([b.charger.charge(vm("b1")), b.charger.charge(vm("b2")), b.charger.charge(vm("b3"))]);
    expect(answers).toEqual([undefined, undefined, undefined]);
    expect(await b.charger.charge(vm("b4"))).toBe("namespace ns would use 5 VMs of 4 (VDCQuota q)");
    await sleep(50);
    expect(server.used()).toBe(4);
    expect(server.quota.status?.reservations ?? []).toEqual([]);
  });

  it("room held by a replica that is gone: the request waits, then is refused saying so", async () => {
    const server = new Server({ virtualMachines: 2 });
    server.put({ ...server.quota, status: { ...server.quota.status, reservations: [{ holder: "dead", room: { virtualMachines: 2, cpus: 0, memory: "0", storage: "0" }, at: "2026-12-07T00:00:00.000Z" }] } });
    const b = server.replica("b", { waitMs: 300 });
    await sleep(10);
    const why = await b.charger.charge(vm("b1"));
    expect(why).toContain("namespace ns would use 3 VMs of 2 (VDCQuota q); part of that room is reserved by another replica of the webhook and was not given back within 0.3 s");
    await sleep(20);
    expect(server.quota.status?.reservations?.find((r) => r.holder === "b"), "its want is cleared").toBeUndefined();
  });

  it("several quotas: a request is taken from the blocks of every quota that limits it, the tightest decides", async () => {
    for (let round = 0; round < 3; round++) {
      const vms = new Server({ virtualMachines: 10 }, "vms");
      const cpus = new Server({ cpus: 6 }, "cpus");
      const a = replica([vms, cpus], "a");
      const b = replica([vms, cpus], "b");
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).charger.charge(vm(`v${i}`))));
      expect(admitted(answers), `round ${round}`).toBe(6);
      expect(answers.filter((x) => x !== undefined).every((x) => x === "namespace ns would use 7 vCPUs of 6 (VDCQuota cpus)")).toBe(true);
      await sleep(100);
      expect([vms.used(), cpus.used("cpus")]).toEqual([6, 6]);
    }
  });

  it("a dry run judges with its own block as free and takes nothing", async () => {
    const server = new Server({ virtualMachines: 3 });
    const { charger } = server.replica("a");
    await charger.charge(vm("x"));
    const writes = server.writes;
    expect(charger.check(vm("y"))).toBeUndefined();
    expect(server.writes).toBe(writes);
  });

  it("a dry run judges against usage alone: room other replicas hold is given back to a real request", async () => {
    const server = new Server({ virtualMachines: 4 });
    server.put({ ...server.quota, status: { ...server.quota.status, reservations: [{ holder: "b", room: { virtualMachines: 3, cpus: 0, memory: "0", storage: "0" }, at: "2026-12-07T00:00:00.000Z" }] } });
    const { charger } = server.replica("a");
    await sleep(10);
    expect(charger.check(vm("y"))).toBeUndefined();
  });

  it("a replica that gave its block back to another takes none again for the wait, then does", async () => {
    const server = new Server({ virtualMachines: 100 });
    const a = server.replica("a", { waitMs: 300 });
    const b = server.replica("b", { waitMs: 300 });
    a.charger.quotaChanged(server.quota);
    await sleep(30);
    expect(server.quota.status?.reservations?.map((r) => [r.holder, r.room.virtualMachines])).toEqual([["a", 50], ["b", 25]]);
    // b needs 60: its 25, the 25 nobody holds, and part of a's block, which a gives back
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => b.charger.charge(vm(`b${i}`))));
    expect(admitted(answers)).toBe(60);
    await sleep(50);
    expect(server.quota.status?.reservations?.find((r) => r.holder === "a"), "a holds nothing right after").toBeUndefined();
    await sleep(1_100); // the wait, and a second since its last early block
    expect(server.used()).toBe(60);
    expect(server.quota.status?.reservations?.find((r) => r.holder === "a")?.room.virtualMachines, "a takes a block again after the wait").toBeGreaterThan(0);
  });
});
