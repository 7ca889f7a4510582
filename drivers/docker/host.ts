// Host capacity and usage of a Docker host. Capacity comes from `docker info`; storage and live
// usage only when the daemon is on this machine (a unix socket), read from the filesystem and
// /proc — Docker's API has no host-wide usage.
import { readFile, statfs } from "node:fs/promises";
import type { HostObservation } from "../contract/index.ts";

const mib = 1024 * 1024;
const gib = 1024 * mib;

export interface DockerInfo {
  NCPU?: number;
  MemTotal?: number;
  ServerVersion?: string;
  OperatingSystem?: string;
  DockerRootDir?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
}

interface CpuSample {
  busy: number;
  total: number;
}

export function hostFromInfo(info: DockerInfo): HostObservation {
  return {
    reachable: true,
    hypervisor: `docker (${info.OperatingSystem ?? "unknown OS"})`,
    version: info.ServerVersion ?? "unknown",
    capacity: { cpus: info.NCPU ?? 0, memoryMiB: Math.floor((info.MemTotal ?? 0) / mib) },
    vms: {
      total: info.Containers ?? 0,
      running: info.ContainersRunning ?? 0,
      paused: info.ContainersPaused ?? 0,
      stopped: info.ContainersStopped ?? 0,
    },
  };
}

/** Live usage of the local machine; the CPU percentage is over the time since the previous sample. */
export class LocalUsage {
  private previous: CpuSample | undefined;

  async storageGiB(dir: string | undefined): Promise<number | undefined> {
    if (dir === undefined) return undefined;
    try {
      const s = await statfs(dir);
      return Math.floor((s.blocks * s.bsize) / gib);
    } catch {
      return undefined; // a daemon in another mount namespace: its root dir is not ours to read
    }
  }

  async usage(): Promise<{ cpuPercent: number; memoryUsedMiB: number }> {
    const [stat, meminfo] = await Promise.all([readFile("/proc/stat", "utf8"), readFile("/proc/meminfo", "utf8")]);
    const sample = cpuSample(stat);
    const since = this.previous === undefined ? sample : { busy: sample.busy - this.previous.busy, total: sample.total - this.previous.total };
    this.previous = sample;
    const cpuPercent = since.total > 0 ? Math.min(100, Math.max(0, (100 * since.busy) / since.total)) : 0;
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(meminfo)?.[1] ?? 0);
    return { cpuPercent, memoryUsedMiB: Math.round((kib("MemTotal") - kib("MemAvailable")) / 1024) };
  }
}

export function cpuSample(procStat: string): CpuSample {
  const fields = (procStat.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}
