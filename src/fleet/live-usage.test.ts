import { describe, expect, it } from "vitest";
import { RuntimeMetrics } from "../runtime/metrics.ts";
import type { HostObservation } from "../../drivers/contract/index.ts";
import type { HostObject } from "./kinds.ts";
import { demandsOf, LiveUsage } from "./live-usage.ts";

const host: HostObject = { metadata: { name: "h1" }, spec: { datacenter: "dc1", driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1 } };
const observed = (cpuPercent: number): HostObservation => ({ reachable: true, hypervisor: "QEMU", version: "7.2", capacity: { cpus: 4, memoryMiB: 8192 }, usage: { cpuPercent, memoryUsedMiB: 1024 }, vms: { total: 0, running: 0, paused: 0, stopped: 0 } });

async function series(metrics: RuntimeMetrics): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split("\n").filter((l) => l.startsWith("omnivisor_host_"));
}

describe("live usage", () => {
  it("each observation moves the gauges and the in-memory figures; a pool change moves the series; forget drops them", async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    const live = new LiveUsage(metrics);
    live.record(host, "p1", observed(20));
    live.record(host, "p1", observed(55));
    expect(live.of("h1")).toMatchObject({ cpuPercent: 55, memoryUsedMiB: 1024, cpus: 4 });
    expect(await series(metrics)).toEqual([
      'omnivisor_host_cpu_usage_ratio{host="h1",namespace="",pool="p1",datacenter="dc1"} 0.55',
      'omnivisor_host_memory_used_bytes{host="h1",namespace="",pool="p1",datacenter="dc1"} 1073741824',
      'omnivisor_host_memory_capacity_bytes{host="h1",namespace="",pool="p1",datacenter="dc1"} 8589934592',
      'omnivisor_host_cpu_capacity_cores{host="h1",namespace="",pool="p1",datacenter="dc1"} 4',
    ]);
    live.record(host, "p2", observed(10));
    expect((await series(metrics)).filter((l) => l.includes('pool="p1"'))).toEqual([]);
    live.forget("h1");
    expect(live.of("h1")).toBeUndefined();
    expect(await series(metrics)).toEqual([]);
  });

  it("a host's VM report replaces its last one; a VM that moved keeps its new host's figures; forget drops the host's VMs", () => {
    const live = new LiveUsage(new RuntimeMetrics({ processMetrics: false }));
    live.recordVms("h1", new Map([["u1", { cpus: 0.5, memoryMiB: 300 }], ["u2", { cpus: 0, memoryMiB: 100 }]]));
    expect(live.ofVm("u1")).toMatchObject({ cpus: 0.5, memoryMiB: 300, host: "h1" });
    live.recordVms("h2", new Map([["u2", { cpus: 1, memoryMiB: 120 }]]));
    live.recordVms("h1", new Map([["u1", { cpus: 0.25, memoryMiB: 310 }]]));
    expect(live.ofVm("u1")).toMatchObject({ cpus: 0.25, memoryMiB: 310 });
    expect(live.ofVm("u2")).toMatchObject({ cpus: 1, host: "h2" });
    live.forget("h1");
    expect(live.ofVm("u1")).toBeUndefined();
    expect(live.ofVm("u2")).toMatchObject({ host: "h2" });
  });

  it("the host's VM sums go to its gauges; a driver without per-VM usage (noVmUsage) drops them and its VMs, and so does forget", async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    const live = new LiveUsage(metrics);
    const vmSeries = async (): Promise<string[]> => (await series(metrics)).filter((l) => l.startsWith("omnivisor_host_vms_"));
    live.record(host, "p1", observed(20));
    live.recordVms("h1", new Map([["u1", { cpus: 0.5, memoryMiB: 300 }], ["u2", { cpus: 0.25, memoryMiB: 100 }]]));
    expect(await vmSeries()).toEqual([
      'omnivisor_host_vms_cpu_usage_cores{host="h1",namespace="",pool="p1",datacenter="dc1"} 0.75',
      'omnivisor_host_vms_memory_used_bytes{host="h1",namespace="",pool="p1",datacenter="dc1"} 419430400',
    ]);
    live.noVmUsage("h1");
    expect(live.ofVm("u1")).toBeUndefined();
    expect(await vmSeries()).toEqual([]);
    live.recordVms("h1", new Map([["u1", { cpus: 1, memoryMiB: 64 }]]));
    expect(await vmSeries()).toHaveLength(2);
    live.forget("h1");
    expect(await vmSeries()).toEqual([]);
  });

  it("demandsOf keeps the VMs with a CPU figure (a first sample has none: the VM counts by allocation until the next)", () => {
    expect(demandsOf([{ uid: "u1", cpus: 0.1, memoryMiB: 50 }, { uid: "u2", memoryMiB: 80 }])).toEqual(new Map([["u1", { cpus: 0.1, memoryMiB: 50 }]]));
  });
});
