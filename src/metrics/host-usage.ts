// Live usage and capacity of each Host, as its hypervisor last reported them: metrics, not status
// (issue #23: usage moves all the time; writing it to status cost 12 writes a minute for two
// hosts). Set where the Host controller samples a host (every poll interval, 15 s by default), so
// only the leader exports them. Labels: host, pool (spec.pool, "" when a pool selects the host by
// label), datacenter; `namespace` is declared for the agreed label set but never set — Hosts are
// cluster-scoped (ADR 0035).
import { Gauge, type Registry } from "prom-client";
import type { HostObservation } from "../../drivers/contract/index.ts";
import type { HostObject } from "../fleet/kinds.ts";

const MiB = 1024 * 1024;
const labelNames = ["host", "namespace", "pool", "datacenter"] as const;
type Labels = Partial<Record<(typeof labelNames)[number], string>>;

export class HostUsageMetrics {
  private readonly cpuUsage: Gauge<(typeof labelNames)[number]>;
  private readonly memoryUsed: Gauge<(typeof labelNames)[number]>;
  private readonly memoryCapacity: Gauge<(typeof labelNames)[number]>;
  private readonly cpuCapacity: Gauge<(typeof labelNames)[number]>;
  /** The labels each host's series were last set with: a host moved to another pool drops its old series. */
  private readonly labelsOf = new Map<string, Labels>();

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers });
    this.cpuUsage = gauge("omnivisor_host_cpu_usage_ratio", "CPU in use on the host, 0-1 of its capacity, as its hypervisor last reported it (sampled each poll).");
    this.memoryUsed = gauge("omnivisor_host_memory_used_bytes", "Memory in use on the host, as its hypervisor last reported it (sampled each poll).");
    this.memoryCapacity = gauge("omnivisor_host_memory_capacity_bytes", "Memory of the host, as its hypervisor reports it.");
    this.cpuCapacity = gauge("omnivisor_host_cpu_capacity_cores", "CPUs (cores or threads, as the hypervisor counts them) of the host.");
  }

  /** A fresh observation of a reachable host. */
  record(host: HostObject, observed: HostObservation): void {
    const labels = this.labels(host);
    this.cpuCapacity.set(labels, observed.capacity.cpus);
    this.memoryCapacity.set(labels, observed.capacity.memoryMiB * MiB);
    if (observed.usage) {
      this.cpuUsage.set(labels, Math.min(1, Math.max(0, observed.usage.cpuPercent / 100)));
      this.memoryUsed.set(labels, observed.usage.memoryUsedMiB * MiB);
    } else {
      this.cpuUsage.remove(labels);
      this.memoryUsed.remove(labels);
    }
  }

  /** The host cannot be reached: its usage is unknown (no stale figure); its capacity stays. */
  unreachable(name: string): void {
    const labels = this.labelsOf.get(name);
    if (!labels) return;
    this.cpuUsage.remove(labels);
    this.memoryUsed.remove(labels);
  }

  /** The Host was deleted. */
  forget(name: string): void {
    const labels = this.labelsOf.get(name);
    if (!labels) return;
    for (const g of [this.cpuUsage, this.memoryUsed, this.memoryCapacity, this.cpuCapacity]) g.remove(labels);
    this.labelsOf.delete(name);
  }

  private labels(host: HostObject): Labels {
    const name = host.metadata.name;
    const labels: Labels = { host: name, pool: host.spec.pool ?? "", datacenter: host.spec.datacenter };
    const before = this.labelsOf.get(name);
    if (before && (before.pool !== labels.pool || before.datacenter !== labels.datacenter)) this.forget(name);
    this.labelsOf.set(name, labels);
    return labels;
  }
}
