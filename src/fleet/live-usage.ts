// Hosts' live usage (CPU load, memory in use) as their hypervisors last reported it: in memory and
// in the per-host gauges, never in status — it moves all the time, and status changes only when
// the world does (ADR 0037). The Host controller records each observation; DRS reads it here.
import type { HostObservation } from "../../drivers/contract/index.ts";
import type { HostLabel, RuntimeMetrics } from "../runtime/metrics.ts";
import type { HostObject } from "./kinds.ts";

export interface HostUsage {
  /** 0-100, of the host's capacity. */
  cpuPercent: number;
  memoryUsedMiB: number;
  cpus: number;
  memoryMiB: number;
  /** When the hypervisor was asked (this process's clock). */
  sampledAt: Date;
}

const MiB = 1024 * 1024;

type Gauges = Pick<RuntimeMetrics, "hostCpuUsage" | "hostMemoryUsed" | "hostMemoryCapacity" | "hostCpuCapacity">;

export class LiveUsage {
  private readonly usage = new Map<string, HostUsage>();
  /** The labels each host's series carry now (a host that moves to another pool gets new series). */
  private readonly series = new Map<string, Record<HostLabel, string>>();
  private readonly gauges: Gauges;

  constructor(gauges: Gauges) {
    this.gauges = gauges;
  }

  /** A fresh observation of a host in `pool` (empty outside pools); a host that reports no usage shows capacity only. */
  record(host: HostObject, pool: string, observed: HostObservation, at = new Date()): void {
    const name = host.metadata.name;
    const labels: Record<HostLabel, string> = { host: name, namespace: host.metadata.namespace ?? "", pool, datacenter: host.spec.datacenter };
    const before = this.series.get(name);
    if (before && JSON.stringify(before) !== JSON.stringify(labels)) this.removeSeries(before);
    this.series.set(name, labels);
    this.gauges.hostCpuCapacity.set(labels, observed.capacity.cpus);
    this.gauges.hostMemoryCapacity.set(labels, observed.capacity.memoryMiB * MiB);
    if (!observed.usage) {
      this.usage.delete(name);
      this.gauges.hostCpuUsage.remove(labels);
      this.gauges.hostMemoryUsed.remove(labels);
      return;
    }
    const { cpuPercent, memoryUsedMiB } = observed.usage;
    this.usage.set(name, { cpuPercent, memoryUsedMiB, cpus: observed.capacity.cpus, memoryMiB: observed.capacity.memoryMiB, sampledAt: at });
    this.gauges.hostCpuUsage.set(labels, Math.min(1, Math.max(0, cpuPercent / 100)));
    this.gauges.hostMemoryUsed.set(labels, memoryUsedMiB * MiB);
  }

  /** The last usage of a host; undefined if it reports none, or could not be reached since. */
  of(host: string): HostUsage | undefined {
    return this.usage.get(host);
  }

  /** The host is gone or unreachable: its figures would be stale, so its series go too. */
  forget(host: string): void {
    const labels = this.series.get(host);
    this.usage.delete(host);
    this.series.delete(host);
    if (labels) this.removeSeries(labels);
  }

  private removeSeries(labels: Record<HostLabel, string>): void {
    for (const gauge of [this.gauges.hostCpuUsage, this.gauges.hostMemoryUsed, this.gauges.hostCpuCapacity, this.gauges.hostMemoryCapacity]) gauge.remove(labels);
  }
}
