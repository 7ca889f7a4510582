import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { HostObservation } from "../../drivers/contract/index.ts";
import type { HostObject } from "../fleet/kinds.ts";
import { HostUsageMetrics } from "./host-usage.ts";

const host = (pool?: string): HostObject => ({ metadata: { name: "h1" }, spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu:///system", ...(pool ? { pool } : {}) } }) as HostObject;
const seen = (usage?: HostObservation["usage"]): HostObservation => ({ reachable: true, hypervisor: "QEMU", version: "7.2", capacity: { cpus: 8, memoryMiB: 1024 }, ...(usage ? { usage } : {}), vms: { total: 0, running: 0, paused: 0, stopped: 0 } });

async function values(registry: Registry, name: string) {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values.map((v) => ({ labels: v.labels, value: v.value }));
}

describe("host usage metrics", () => {
  it("given an observation, then usage is a 0-1 ratio and bytes, labelled by host, pool and datacenter", async () => {
    const registry = new Registry();
    const m = new HostUsageMetrics(registry);
    m.record(host("p"), seen({ cpuPercent: 37.5, memoryUsedMiB: 256 }));
    expect(await values(registry, "omnivisor_host_cpu_usage_ratio")).toEqual([{ labels: { host: "h1", pool: "p", datacenter: "dc" }, value: 0.375 }]);
    expect(await values(registry, "omnivisor_host_memory_used_bytes")).toEqual([{ labels: { host: "h1", pool: "p", datacenter: "dc" }, value: 256 * 1024 * 1024 }]);
    expect(await values(registry, "omnivisor_host_memory_capacity_bytes")).toEqual([{ labels: { host: "h1", pool: "p", datacenter: "dc" }, value: 1024 * 1024 * 1024 }]);
    expect(await values(registry, "omnivisor_host_cpu_capacity_cores")).toEqual([{ labels: { host: "h1", pool: "p", datacenter: "dc" }, value: 8 }]);
  });

  it("when the host becomes unreachable, then its usage goes and its capacity stays; deleted, everything goes", async () => {
    const registry = new Registry();
    const m = new HostUsageMetrics(registry);
    m.record(host("p"), seen({ cpuPercent: 10, memoryUsedMiB: 1 }));
    m.unreachable("h1");
    expect(await values(registry, "omnivisor_host_cpu_usage_ratio")).toEqual([]);
    expect(await values(registry, "omnivisor_host_cpu_capacity_cores")).toHaveLength(1);
    m.forget("h1");
    expect(await values(registry, "omnivisor_host_cpu_capacity_cores")).toEqual([]);
  });

  it("when a host moves to another pool, then only the new pool's series remain", async () => {
    const registry = new Registry();
    const m = new HostUsageMetrics(registry);
    m.record(host("a"), seen({ cpuPercent: 10, memoryUsedMiB: 1 }));
    m.record(host("b"), seen({ cpuPercent: 20, memoryUsedMiB: 1 }));
    expect(await values(registry, "omnivisor_host_cpu_usage_ratio")).toEqual([{ labels: { host: "h1", pool: "b", datacenter: "dc" }, value: 0.2 }]);
  });
});
