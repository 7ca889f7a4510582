import { describe, expect, it } from "vitest";
import type { HostObject, HostPoolObject, VdcQuotaObject, VmObject } from "../fleet/kinds.ts";
import { fleetSamples, inventoryGauges, type Fleet } from "./inventory.ts";

const now = Date.parse("2026-12-07T01:00:00Z");
const cond = (type: string, status: "True" | "False", reason = "", at = "2026-12-07T00:50:00Z") => ({ type, status, reason, message: "", lastTransitionTime: at });
const host = (name: string, cpus: [number, number], ready = true): HostObject =>
  ({
    metadata: { name },
    spec: { datacenter: "dc", pool: "p", driver: "libvirt", endpoint: "x" },
    status: { phase: ready ? "Ready" : "NotReady", capacity: { cpus: 4, memory: "8Gi" }, allocatable: { cpus: cpus[1], memory: "8Gi" }, allocated: { cpus: cpus[0], memory: "1Gi" }, conditions: [cond("Reachable", ready ? "True" : "False"), cond("Ready", ready ? "True" : "False")] },
  }) as HostObject;
const vm = (name: string, status: Partial<NonNullable<VmObject["status"]>>, created = "2026-12-07T00:40:00Z"): VmObject =>
  ({ metadata: { name, namespace: "t", creationTimestamp: created }, spec: { cpus: 1, memory: "64Mi" }, status }) as VmObject;
const pool: HostPoolObject = { metadata: { name: "p" }, spec: { datacenter: "dc", hosts: ["a", "b"] } };
const quota: VdcQuotaObject = { metadata: { name: "q", namespace: "t" }, spec: { hard: { virtualMachines: 10, memory: "1Gi" } }, status: { used: { virtualMachines: 9, memory: "512Mi" } } };

const fleet = (f: Partial<Fleet>): Fleet => ({ hosts: [], pools: [], datacenters: [], vms: [], vapps: [], quotas: [], migrations: [], haPolicies: [], drsPolicies: [], now, ...f });
const value = (out: ReturnType<typeof fleetSamples>, name: string, labels: Record<string, string>) => out.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("fleet inventory", () => {
  it("given hosts and VMs, then kinds are counted by phase and VMs by host and phase", () => {
    const out = fleetSamples(fleet({ hosts: [host("a", [2, 8]), host("b", [0, 8], false)], vms: [vm("x", { phase: "Running", host: "a" }), vm("y", { phase: "Running", host: "a" }), vm("z", { phase: "Pending" })] }));
    expect(value(out, "omnivisor_resources", { kind: "VirtualMachine", namespace: "t", phase: "Running" })).toBe(2);
    expect(value(out, "omnivisor_resources", { kind: "Host", phase: "NotReady" })).toBe(1);
    expect(value(out, "omnivisor_host_virtual_machines", { host: "a", phase: "Running" })).toBe(2);
    expect(value(out, "omnivisor_host_reachable", { host: "b" })).toBe(0);
    expect(value(out, "omnivisor_host_memory_allocated_bytes", { host: "a" })).toBe(2 ** 30);
  });

  it("given a pool, then its sums count its hosts and its imbalance is the spread of their allocation", () => {
    const out = fleetSamples(fleet({ hosts: [host("a", [4, 8]), host("b", [0, 8])], pools: [pool] }));
    expect(value(out, "omnivisor_pool_hosts_ready", { pool: "p" })).toBe(2);
    expect(value(out, "omnivisor_pool_cpu_allocated_cores", { pool: "p" })).toBe(4);
    // allocations 0.5 and 0.125 (memory 1Gi of 8Gi): mean 0.3125, deviation 0.1875
    expect(value(out, "omnivisor_drs_imbalance", { pool: "p" })).toBeCloseTo(0.1875);
  });

  it("given a VM Pending since its Scheduled condition turned False, then the namespace's oldest Pending age counts from then", () => {
    const pending = vm("p", { phase: "Pending", conditions: [cond("Scheduled", "False", "NoHostFits", "2026-12-07T00:58:00Z")] });
    const looping = vm("l", { phase: "Stopped", host: "a", conditions: [cond("Ready", "False", "CrashLoopBackOff")] });
    const out = fleetSamples(fleet({ vms: [pending, looping, vm("r", { phase: "Running" })] }));
    expect(value(out, "omnivisor_virtual_machines_pending_oldest_seconds", { namespace: "t" })).toBe(120);
    expect(value(out, "omnivisor_virtual_machines_unschedulable", { namespace: "t", reason: "NoHostFits" })).toBe(1);
    expect(value(out, "omnivisor_virtual_machines_crash_looping", { namespace: "t" })).toBe(1);
  });

  it("given a quota, then used and hard are given for the limits it sets, memory in bytes", () => {
    const out = fleetSamples(fleet({ quotas: [quota] }));
    expect(value(out, "omnivisor_quota_used", { resource: "virtual_machines", driver: "" })).toBe(9);
    expect(value(out, "omnivisor_quota_hard", { resource: "memory_bytes" })).toBe(2 ** 30);
    expect(out.get("omnivisor_quota_hard")).toHaveLength(2);
  });

  it("every sample is of a declared gauge with declared labels, and no label names a VM", () => {
    const out = fleetSamples(fleet({ hosts: [host("a", [1, 8])], pools: [pool], vms: [vm("x", { phase: "Running", host: "a" })], quotas: [quota] }));
    const declared = new Map(inventoryGauges.map((g) => [g.name, g.labelNames]));
    for (const [name, samples] of out) {
      expect(declared.has(name), name).toBe(true);
      for (const s of samples) {
        for (const label of Object.keys(s.labels)) expect(declared.get(name)).toContain(label);
        expect(Object.values(s.labels)).not.toContain("x");
      }
    }
  });
});
