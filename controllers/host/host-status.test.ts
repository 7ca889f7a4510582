import { describe, expect, it } from "vitest";
import type { HostObservation, VmObservation } from "../../drivers/contract/index.ts";
import type { HostStatus } from "../../src/api/index.ts";
import { allocatableOf, observedHostStatus } from "./host-status.ts";
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";

const host = (spec: Partial<HostObject["spec"]> = {}): HostObject =>
  ({ metadata: { name: "h1" }, spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1, ...spec } });

const vm = (name: string, cpus: number, memory: string, extra: Partial<VmObject["status"]> = {}): VmObject =>
  ({ metadata: { name, namespace: "t" }, spec: { cpus, memory, powerState: "Running" }, status: { host: "h1", ...extra } }) as VmObject;

const observation: HostObservation = {
  reachable: true,
  hypervisor: "QEMU",
  version: "7.2.0",
  capacity: { cpus: 8, memoryMiB: 16384, storageGiB: 100 },
  usage: { cpuPercent: 12.4, memoryUsedMiB: 2048 },
  vms: { total: 3, running: 2, paused: 0, stopped: 1 },
};

const obs = (name: string, managed: boolean, power: VmObservation["power"] = "Running"): VmObservation => ({ externalId: `id-${name}`, name, managed, power, cpus: 1, memoryMiB: 64, addresses: [] });

describe("host status", () => {
  it("allocatable is (capacity - reserved) x overcommit", () => {
    expect(allocatableOf(host({ reserved: { cpus: 2, memory: "4Gi" }, cpuOvercommit: 4 }), { cpus: 8, memoryMiB: 16384 })).toEqual({ cpus: 24, memoryMiB: 12288 });
  });

  it("given an observation and placed VMs, then capacity, allocated, counts and unmanaged VMs are filled", () => {
    const status: HostStatus = {};
    const placed = [vm("a", 2, "1Gi"), vm("b", 1, "512Mi", { externalId: "id-claimed" })];
    observedHostStatus(status, host(), { host: observation, vms: [obs("a", true), obs("stray", false, "Stopped"), { ...obs("claimed", false), externalId: "id-claimed" }], placed, exists: () => true });
    expect(status.capacity).toEqual({ cpus: 8, memory: "16Gi", storage: "100Gi" });
    expect(status.allocated).toEqual({ cpus: 3, memory: "1536Mi", storage: "0Gi" });
    expect(status.virtualMachines).toEqual({ total: 3, running: 2, managed: 1 });
    // a VM a VirtualMachine is adopting is not offered as unmanaged
    expect(status.unmanagedVms).toEqual([{ externalId: "id-stray", name: "stray", powerState: "Stopped", cpus: 1, memory: "64Mi" }]);
    expect(status.usage).toMatchObject({ cpuPercent: 12, memory: "2Gi" });
  });

  it("keeps the last usage sample while the figures barely move, so an idle host writes nothing", () => {
    const status: HostStatus = {};
    observedHostStatus(status, host(), { host: observation, vms: [], placed: [], exists: () => true }, () => new Date("2026-01-01T00:00:00Z"));
    observedHostStatus(status, host(), { host: { ...observation, usage: { cpuPercent: 13.6, memoryUsedMiB: 2100 } }, vms: [], placed: [], exists: () => true }, () => new Date("2026-01-01T00:04:00Z"));
    expect(status.usage?.sampledAt).toBe("2026-01-01T00:00:00Z");
    expect(status.usage?.cpuPercent).toBe(12); // 12 → 14 and 2048 → 2100 MiB: not worth a write
    // a real move, or an old sample, is written
    observedHostStatus(status, host(), { host: { ...observation, usage: { cpuPercent: 40, memoryUsedMiB: 2048 } }, vms: [], placed: [], exists: () => true }, () => new Date("2026-01-01T00:01:00Z"));
    expect(status.usage).toMatchObject({ cpuPercent: 40, sampledAt: "2026-01-01T00:01:00Z" });
    observedHostStatus(status, host(), { host: { ...observation, usage: { cpuPercent: 41, memoryUsedMiB: 2048 } }, vms: [], placed: [], exists: () => true }, () => new Date("2026-01-01T00:07:00Z"));
    expect(status.usage).toMatchObject({ cpuPercent: 41, sampledAt: "2026-01-01T00:07:00Z" });
    expect(status.unmanagedVms).toBeUndefined();
  });

  it("given a VM carrying a uid no VirtualMachine has, then it is orphaned: listed, counted apart, not managed", () => {
    const status: HostStatus = {};
    const mine = { ...obs("t.kept", true), identity: { uid: "u-kept", name: "t.kept", namespace: "t", kubeName: "kept" } };
    const lost = { ...obs("t.lost", true, "Running"), identity: { uid: "u-lost", name: "t.lost", namespace: "t", kubeName: "lost" } };
    observedHostStatus(status, host(), { host: observation, vms: [mine, lost], placed: [], exists: (uid) => uid === "u-kept" });
    expect(status.virtualMachines).toEqual({ total: 2, running: 2, managed: 1, orphaned: 1 });
    expect(status.orphanedVms).toEqual([{ externalId: "id-t.lost", name: "t.lost", namespace: "t", virtualMachine: "lost", powerState: "Running" }]);
    expect(status.unmanagedVms).toBeUndefined();
    // its VirtualMachine is back (adopted): no longer orphaned
    observedHostStatus(status, host(), { host: observation, vms: [mine, lost], placed: [], exists: () => true });
    expect(status.virtualMachines).toEqual({ total: 2, running: 2, managed: 2 });
    expect(status.orphanedVms).toBeUndefined();
  });
});
