import { describe, expect, it } from "vitest";
import type { HostObject, VmMigrationObject, VmObject } from "../../src/fleet/kinds.ts";
import { drainMigrationName, drainRetryMs, planDrain, withdrawDrain } from "./drain.ts";

const host = (spec: Partial<HostObject["spec"]> = {}): HostObject =>
  ({ metadata: { name: "kvm1" }, spec: { datacenter: "dc", driver: "libvirt", endpoint: "x", maintenance: true, drainPolicy: "Migrate", ...spec } }) as HostObject;
const vm = (name: string, extra: { hosts?: string[]; power?: string } = {}): VmObject =>
  ({ metadata: { name, namespace: "t" }, spec: { placement: extra.hosts ? { hosts: extra.hosts } : undefined }, status: { host: "kvm1", powerState: extra.power ?? "Running" } }) as unknown as VmObject;
const migration = (name: string, vmName: string, status?: VmMigrationObject["status"]): VmMigrationObject => ({ metadata: { name, namespace: "t" }, spec: { virtualMachine: vmName, live: true }, ...(status ? { status } : {}) });

describe("draining a host in maintenance", () => {
  it("given Migrate, then every movable VM gets one live VMMigration, by a stable name, and the pinned one is named", () => {
    const plan = planDrain(host(), { vms: [vm("a"), vm("b"), vm("pinned", { hosts: ["kvm1"] })], migrationsOf: () => [], now: 0 });
    expect(plan.create.map((m) => [m.metadata.name, m.spec.virtualMachine, m.spec.live, m.metadata.labels])).toEqual([
      ["drain-kvm1-a", "a", true, { "omnivisor.io/drain-host": "kvm1" }],
      ["drain-kvm1-b", "b", true, { "omnivisor.io/drain-host": "kvm1" }],
    ]);
    expect(plan.left).toContain("t/pinned cannot move: pinned to this host by spec.placement.hosts");
    expect(plan.done).toBe(false);
  });

  it("given moves under way, then none is asked twice, and their progress is shown", () => {
    const running = migration("drain-kvm1-a", "a", { phase: "Running", progress: { percent: 40, observedAt: "" } });
    const plan = planDrain(host(), { vms: [vm("a")], migrationsOf: (k) => (k === "t/a" ? [running] : []), now: 0 });
    expect(plan.create).toEqual([]);
    expect(plan.left).toEqual(["t/a moving (VMMigration drain-kvm1-a, 40%)"]);
  });

  it("given a failed move, then the VM is named with the reason, and it is tried again only after a while", () => {
    const failed = migration("drain-kvm1-a", "a", { phase: "Failed", completedAt: new Date(1_000_000).toISOString(), conditions: [{ type: "Ready", status: "False", reason: "NoTarget", message: "no other host of the VM's scope can take it", lastTransitionTime: "" }] });
    const soon = planDrain(host(), { vms: [vm("a")], migrationsOf: () => [failed], now: 1_000_000 + 1_000 });
    expect(soon.left).toEqual(["t/a cannot move: no other host of the VM's scope can take it"]);
    expect(soon.remove).toEqual([]);
    expect(planDrain(host(), { vms: [vm("a")], migrationsOf: () => [failed], now: 1_000_000 + drainRetryMs }).remove).toEqual([failed]);
  });

  it("given Docker or ESXi, then nothing is stopped to make progress: the VMs are named as unable to move live", () => {
    const plan = planDrain(host({ driver: "docker" }), { vms: [vm("c")], migrationsOf: () => [], now: 0 });
    expect(plan.create).toEqual([]);
    expect(plan.left[0]).toContain("Docker has no live migration");
  });

  it("given no VM left, then it is drained; given Shutdown, then it is drained once every VM is stopped", () => {
    expect(planDrain(host(), { vms: [], migrationsOf: () => [], now: 0 }).done).toBe(true);
    const shutdown = host({ drainPolicy: "Shutdown" });
    expect(planDrain(shutdown, { vms: [vm("a", { power: "Stopped" }), vm("b")], migrationsOf: () => [], now: 0 })).toMatchObject({ done: false, left: ["t/b shutting down (Running)"], create: [] });
    expect(planDrain(shutdown, { vms: [vm("a", { power: "Stopped" })], migrationsOf: () => [], now: 0 }).done).toBe(true);
  });

  it("when maintenance ends, then moves not yet running are withdrawn and running ones finish", () => {
    const moves = [migration("p", "a", { phase: "Pending" }), migration("r", "b", { phase: "Running" }), migration("s", "c", { phase: "Succeeded" })];
    expect(withdrawDrain(moves).map((m) => m.metadata.name)).toEqual(["p", "s"]);
  });

  it("names its VMMigrations within Kubernetes' 253 characters", () => {
    expect(drainMigrationName("h".repeat(200), "v".repeat(200)).length).toBeLessThanOrEqual(253);
  });
});
