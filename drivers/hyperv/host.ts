// The Hyper-V host as contract data, from Get-VMHost and the CIM classes Win32_OperatingSystem
// and Win32_Processor.
import type { HostObservation, VmObservation } from "../contract/index.ts";

export interface VmHostJson {
  ComputerName: string;
  LogicalProcessorCount: number;
  MemoryCapacity: number;
}

export interface OsJson {
  Caption: string;
  Version: string;
  /** KiB */
  FreePhysicalMemory: number;
  /** KiB */
  TotalVisibleMemorySize: number;
}

export interface CpuJson {
  LoadPercentage: number | null;
}

export function hostObservation(host: VmHostJson, os: OsJson, cpus: CpuJson[], vms: VmObservation[]): HostObservation {
  const totalMiB = Math.floor(Number(host.MemoryCapacity) / 1024 ** 2);
  const usedMiB = Math.round((Number(os.TotalVisibleMemorySize) - Number(os.FreePhysicalMemory)) / 1024);
  const loads = cpus.map((c) => Number(c.LoadPercentage ?? 0));
  const load = loads.length === 0 ? 0 : loads.reduce((a, b) => a + b, 0) / loads.length;
  return {
    reachable: true,
    hypervisor: "Hyper-V",
    version: os.Version,
    capacity: { cpus: Number(host.LogicalProcessorCount), memoryMiB: totalMiB },
    usage: { cpuPercent: Math.min(100, Math.max(0, load)), memoryUsedMiB: Math.min(totalMiB, Math.max(1, usedMiB)) },
    vms: {
      total: vms.length,
      running: vms.filter((v) => v.power === "Running").length,
      paused: vms.filter((v) => v.power === "Paused").length,
      stopped: vms.filter((v) => v.power === "Stopped").length,
    },
  };
}
