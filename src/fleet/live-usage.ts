// Hosts' live usage (CPU load, memory in use) as their hypervisors last reported it: in memory and
// in the per-host gauges, never in status — it moves all the time, and status changes only when
// the world does (ADR 0037). The Host controller records each observation; DRS reads it here.
import type { HostObservation, VmUsageSample } from "../../drivers/contract/index.ts";
import type { Demand } from "../placement/drs/types.ts";
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

type Gauges = Pick<RuntimeMetrics, "hostCpuUsage" | "hostMemoryUsed" | "hostMemoryCapacity" | "hostCpuCapacity" | "hostVmsCpuUsage" | "hostVmsMemoryUsed">;

/** A VM's own usage as its hypervisor last reported it (CPUs busy in cores, memory in use). */
export interface VmUsage extends Demand {
  host: string;
  sampledAt: Date;
}

/**
 * A driver's per-VM samples as demands by uid. A VM without a CPU figure yet (its first sample on
 * this session) is left out: it counts by its allocation until the next observation has one.
 */
export function demandsOf(samples: readonly VmUsageSample[]): Map<string, Demand> {
  const out = new Map<string, Demand>();
  for (const s of samples) if (s.cpus !== undefined) out.set(s.uid, { cpus: s.cpus, memoryMiB: s.memoryMiB });
  return out;
}

export class LiveUsage {
  private readonly usage = new Map<string, HostUsage>();
  /** By VM uid. */
  private readonly vms = new Map<string, VmUsage>();
  /** The VM uids each host last reported, so a host's next report (or its loss) replaces them. */
  private readonly vmsOfHost = new Map<string, Set<string>>();
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

  /**
   * Every managed VM's usage on `host` (by uid) from one report; VMs it no longer lists are
   * dropped. The host's sums go to the per-host gauges (once record() has named its labels).
   */
  recordVms(host: string, usage: ReadonlyMap<string, Demand>, at = new Date()): void {
    this.dropVms(host, usage);
    for (const [uid, d] of usage) this.vms.set(uid, { cpus: d.cpus, memoryMiB: d.memoryMiB, host, sampledAt: at });
    this.vmsOfHost.set(host, new Set(usage.keys()));
    const labels = this.series.get(host);
    if (!labels) return;
    const sum = (f: (d: Demand) => number): number => [...usage.values()].reduce((a, d) => a + f(d), 0);
    this.gauges.hostVmsCpuUsage.set(labels, sum((d) => d.cpus));
    this.gauges.hostVmsMemoryUsed.set(labels, Math.round(sum((d) => d.memoryMiB) * MiB));
  }

  /** The host's driver reports no per-VM usage (or failed to this time): its VMs count by allocation, and its VM sums go. */
  noVmUsage(host: string): void {
    this.dropVms(host, new Map());
    this.vmsOfHost.delete(host);
    const labels = this.series.get(host);
    if (labels) for (const gauge of [this.gauges.hostVmsCpuUsage, this.gauges.hostVmsMemoryUsed]) gauge.remove(labels);
  }

  private dropVms(host: string, keep: ReadonlyMap<string, Demand>): void {
    for (const uid of this.vmsOfHost.get(host) ?? []) if (!keep.has(uid) && this.vms.get(uid)?.host === host) this.vms.delete(uid);
  }

  /** A VM's last usage (by uid); undefined when its driver reports none, or its host was lost since. */
  ofVm(uid: string): VmUsage | undefined {
    return this.vms.get(uid);
  }

  /** The host is gone or unreachable: its figures would be stale, so its series go too. */
  forget(host: string): void {
    this.dropVms(host, new Map());
    this.vmsOfHost.delete(host);
    const labels = this.series.get(host);
    this.usage.delete(host);
    this.series.delete(host);
    if (labels) this.removeSeries(labels);
  }

  private removeSeries(labels: Record<HostLabel, string>): void {
    const gauges = [this.gauges.hostCpuUsage, this.gauges.hostMemoryUsed, this.gauges.hostCpuCapacity, this.gauges.hostMemoryCapacity, this.gauges.hostVmsCpuUsage, this.gauges.hostVmsMemoryUsed];
    for (const gauge of gauges) gauge.remove(labels);
  }
}

/**
 * One LiveUsage per manager, shared by the controllers that record it (Host) and read it (DRS):
 * made on first use, with the gauges of the first caller's metrics (every controller of a manager
 * has the same).
 */
export class SharedLiveUsage {
  private live: LiveUsage | undefined;

  of(gauges: Gauges): LiveUsage {
    this.live ??= new LiveUsage(gauges);
    return this.live;
  }
}
