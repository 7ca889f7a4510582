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
  });

  it("live usage that moves changes nothing in status (an idle host writes nothing; usage is in metrics)", () => {
    const at = (cpuPercent: number, memoryUsedMiB: number): HostStatus => {
      const status = { usage: { cpuPercent: 3 } } as HostStatus; // what an older version left
      observedHostStatus(status, host(), { host: { ...observation, usage: { cpuPercent, memoryUsedMiB } }, vms: [], placed: [], exists: () => true });
      return status;
    };
    expect(at(2, 2048)).toEqual(at(97, 9000));
    expect(at(2, 2048)).not.toHaveProperty("usage");
  });

  it("given a VM carrying a uid no VirtualMachine has, then it is orphaned: listed, counted apart, not managed", () => {
    const status: HostStatus = {};
    const mine = { ...obs("t.kept", true), identity: { uid: "u-kept", name: "t.kept", namespace: "t", kubeName: "kept" } };
    const lost = { ...obs("t.lost", true, "Running"), identity: { uid: "u-lost", name: "t.lost", namespace: "t", kubeName: "lost" } };
    observedHostStatus(status, host(), { host: observation, vms: [mine, lost], placed: [], exists: (uid) => uid === "u-kept" });
    expect(status.virtualMachines).toEqual({ total: 2, running: 2, managed: 1, orphaned: 1 });
    expect(status.orphanedVms).toEqual([{ externalId: "id-t.lost", name: "t.lost", uid: "u-lost", namespace: "t", virtualMachine: "lost", powerState: "Running" }]);
    expect(status.unmanagedVms).toBeUndefined();
    // its VirtualMachine is back (adopted): no longer orphaned
    observedHostStatus(status, host(), { host: observation, vms: [mine, lost], placed: [], exists: () => true });
    expect(status.virtualMachines).toEqual({ total: 2, running: 2, managed: 2 });
    expect(status.orphanedVms).toBeUndefined();
  });
});
