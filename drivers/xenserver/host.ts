// The host a session stands for (./residency.ts), from XAPI's host, host_metrics and host_cpu records.
import type { HostObservation, VmObservation } from "../contract/index.ts";

export interface HostRecord {
  name_label: string;
  hostname: string;
  address: string;
  software_version: Record<string, string>;
  cpu_info: Record<string, string>;
  host_CPUs: string[];
  metrics: string;
}

export interface HostMetricsRecord {
  memory_total: number | string;
  memory_free: number | string;
}

export interface HostCpuRecord {
  host: string;
  utilisation: number | string;
}

const MiB = 1024 ** 2;

export function hostObservation(ref: string, host: HostRecord, metrics: HostMetricsRecord, cpus: HostCpuRecord[], vms: VmObservation[]): HostObservation {
  const total = Number(metrics.memory_total);
  const free = Number(metrics.memory_free);
  const own = cpus.filter((c) => c.host === ref);
  const cpuCount = Number(host.cpu_info["cpu_count"] ?? own.length) || own.length;
  const load = own.length === 0 ? 0 : own.reduce((sum, c) => sum + Number(c.utilisation), 0) / own.length;
  return {
    reachable: true,
    hypervisor: host.software_version["product_brand"] ?? "XenServer",
    version: host.software_version["product_version"] ?? host.software_version["xapi"] ?? "unknown",
    capacity: { cpus: cpuCount, memoryMiB: Math.floor(total / MiB) },
    usage: { cpuPercent: Math.min(100, Math.max(0, load * 100)), memoryUsedMiB: Math.max(1, Math.round((total - free) / MiB)) },
    vms: {
      total: vms.length,
      running: vms.filter((v) => v.power === "Running").length,
      paused: vms.filter((v) => v.power === "Paused").length,
      stopped: vms.filter((v) => v.power === "Stopped").length,
    },
  };
}
