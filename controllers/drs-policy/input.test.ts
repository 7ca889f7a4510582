import { describe, expect, it } from "vitest";
import type { HostObject, HostPoolObject, VmMigrationObject, VmObject } from "../../src/fleet/kinds.ts";
import type { Fleet } from "../../src/fleet/placement-input.ts";
import { Reservations, VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { cannotMove, cooldownMs, poolInput } from "./input.ts";

const ready = [
  { type: "Ready", status: "True" },
  { type: "Reachable", status: "True" },
];
const host = (name: string, driver = "libvirt"): HostObject =>
  ({ metadata: { name, labels: {} }, spec: { datacenter: "dc", driver, endpoint: `qemu+tcp://${name}/system`, maintenance: false }, status: { allocatable: { cpus: 4, memory: "8Gi" }, conditions: ready } }) as unknown as HostObject;
const vm = (name: string, on: string, extra: { hosts?: string[]; phase?: string; power?: string; desired?: string; annotations?: Record<string, string> } = {}): VmObject =>
  ({
    metadata: { name, namespace: "t", uid: `uid-${name}`, labels: {}, annotations: extra.annotations ?? {} },
    spec: { cpus: 1, memory: "1Gi", powerState: extra.desired ?? "Running", placement: extra.hosts ? { hosts: extra.hosts } : undefined },
    status: { host: on, phase: extra.phase ?? "Running", powerState: extra.power ?? "Running" },
  }) as unknown as VmObject;
const migration = (name: string, vmName: string, status: VmMigrationObject["status"], targetHost?: string): VmMigrationObject => ({ metadata: { name, namespace: "t", creationTimestamp: "2026-01-01T00:00:00Z" }, spec: { virtualMachine: vmName, live: true, ...(targetHost ? { targetHost } : {}) }, status });
const pool = { metadata: { name: "p" }, spec: { datacenter: "dc", hosts: ["a", "b", "d"] } } as unknown as HostPoolObject;

function fleetOf(hosts: HostObject[], vms: VmObject[]): Fleet {
  const placed = new VmsByHost();
  for (const v of vms) placed.put(v);
  const byKey = new Map(vms.map((v) => [`t/${v.metadata.name}`, v]));
  return { hosts, pools: [pool], datacenters: [], placed, reservations: new Reservations(), vm: (k) => byKey.get(k) };
}

describe("a pool as the DRS planner sees it", () => {
  it("given the pool's hosts, then only members are hosts, those that cannot live-migrate are marked, and every VM counts with its request and usage", () => {
    const f = fleetOf([host("a"), host("b"), host("d", "docker"), host("elsewhere")], [vm("x", "a"), vm("y", "b"), vm("z", "elsewhere")]);
    const input = poolInput({
      fleet: f,
      pool,
      cannotMigrate: (h) => (h.spec.driver === "docker" ? "Docker has no live migration" : undefined),
      migrationsOf: () => [],
      demandOf: (uid) => (uid === "uid-x" ? { cpus: 0.3, memoryMiB: 200 } : undefined),
      threshold: 3,
      now: 0,
    });
    expect(input.hosts.map((h) => [h.name, h.cannotMigrate])).toEqual([
      ["a", undefined],
      ["b", undefined],
      ["d", "Docker has no live migration"],
    ]);
    expect(input.hosts.find((h) => h.name === "a")!.allocated).toMatchObject({ cpus: 1, memoryMiB: 1024 });
    expect(input.vms.map((v) => [v.request.vm.name, v.host, v.demand, v.cannotMove, v.request.driver])).toEqual([
      ["x", "a", { cpus: 0.3, memoryMiB: 200 }, undefined, "libvirt"],
      ["y", "b", undefined, undefined, "libvirt"],
    ]);
    expect(input.threshold).toBe(3);
    expect(input.maxMoves).toBeUndefined();
    expect(poolInput({ fleet: f, pool, cannotMigrate: () => undefined, migrationsOf: () => [], demandOf: () => undefined, threshold: 5, maxMoves: 258, now: 0 }).maxMoves).toBe(258);
  });

  it("given a VM on its way to another member, then it counts on the target and may not move", () => {
    const move = migration("m", "x", { phase: "Running", sourceHost: "a", targetHost: "b" });
    const input = poolInput({ fleet: fleetOf([host("a"), host("b")], [vm("x", "a")]), pool, cannotMigrate: () => undefined, migrationsOf: (k) => (k === "t/x" ? [move] : []), demandOf: () => undefined, threshold: 3, now: 0 });
    expect(input.vms[0]).toMatchObject({ host: "b", cannotMove: "migrating (VMMigration m, Running)" });
  });
});

describe("which VMs DRS leaves alone", () => {
  const at = Date.parse("2026-01-01T01:00:00Z");
  it("given a VM moving, failing over, off, changing power, pinned or being deleted, then it says why", () => {
    expect(cannotMove(vm("x", "a"), "a", [migration("m", "x", { phase: "Pending" })], at)).toBe("migrating (VMMigration m, Pending)");
    expect(cannotMove(vm("x", "a", { annotations: { "omnivisor.io/ha-restart-from": "a" } }), "a", [], at)).toBe("failing over (HA restart from host a)");
    expect(cannotMove(vm("x", "a", { desired: "Stopped", phase: "Stopped", power: "Stopped" }), "a", [], at)).toBe("not meant to run (spec.powerState Stopped)");
    expect(cannotMove(vm("x", "a", { phase: "Starting", power: "Stopped" }), "a", [], at)).toBe("not running steadily (phase Starting, power Stopped)");
    expect(cannotMove(vm("x", "a", { hosts: ["a"] }), "a", [], at)).toBe("pinned to host a by spec.placement.hosts");
    expect(cannotMove(vm("x", "a", { hosts: ["a", "b"] }), "a", [], at)).toBeUndefined();
    const deleting = vm("x", "a");
    deleting.metadata.deletionTimestamp = "2026-01-01T00:00:00Z";
    expect(cannotMove(deleting, "a", [], at)).toBe("being deleted");
  });

  it("given a move that ended, then the VM cools down for the cool-down, counted from its end", () => {
    const done = migration("m", "x", { phase: "Succeeded", completedAt: new Date(at - 1000).toISOString() });
    expect(cannotMove(vm("x", "b"), "b", [done], at)).toBe(`cooling down after VMMigration m until ${new Date(at - 1000 + cooldownMs).toISOString()}`);
    expect(cannotMove(vm("x", "b"), "b", [done], at - 1000 + cooldownMs)).toBeUndefined();
    const failed = migration("f", "x", { phase: "Failed", completedAt: new Date(at - 5000).toISOString() });
    expect(cannotMove(vm("x", "b"), "b", [failed], at)).toContain("cooling down after VMMigration f");
  });
});
