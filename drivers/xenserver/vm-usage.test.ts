import { describe, expect, it } from "vitest";
import type { VmRecord } from "./records.ts";
import { vmUsage } from "./vm-usage.ts";

const vm = (over: Partial<VmRecord>): VmRecord => ({
  uuid: "x",
  name_label: "a",
  power_state: "Running",
  is_a_template: false,
  is_control_domain: false,
  other_config: { "io.omnivisor.uid": "u1" },
  VCPUs_at_startup: 2,
  VCPUs_max: 2,
  memory_static_max: 512 * 1024 ** 2,
  memory_static_min: 128 * 1024 ** 2,
  resident_on: "OpaqueRef:h",
  metrics: "OpaqueRef:m",
  ...over,
});

describe("vmUsage (VM_metrics)", () => {
  it("memory_actual in MiB; VCPUs_utilisation summed is the CPUs busy (strings from XML-RPC too)", () => {
    const metrics = { "OpaqueRef:m": { memory_actual: String(384 * 1024 ** 2), VCPUs_utilisation: { "0": 0.25, "1": "0.5" } } };
    expect(vmUsage([vm({})], metrics, () => true)).toEqual([{ uid: "u1", cpus: 0.75, memoryMiB: 384 }]);
  });

  it("an empty VCPUs_utilisation (XenServer ≥ 6.1 keeps CPU in RRDs) leaves the CPUs undefined", () => {
    expect(vmUsage([vm({})], { "OpaqueRef:m": { memory_actual: 1024 ** 3, VCPUs_utilisation: {} } }, () => true)).toEqual([{ uid: "u1", memoryMiB: 1024 }]);
  });

  it("leaves out halted, unmanaged, elsewhere-resident VMs, templates and dom0", () => {
    const metrics = { "OpaqueRef:m": { memory_actual: 1024 ** 3 } };
    const vms = [vm({ power_state: "Halted" }), vm({ other_config: {} }), vm({ is_a_template: true }), vm({ is_control_domain: true })];
    expect(vmUsage(vms, metrics, () => true)).toEqual([]);
    expect(vmUsage([vm({})], metrics, () => false)).toEqual([]);
  });
});
