// observeVmUsage for Docker: one label-filtered list of the running managed containers, then
// GET /containers/{id}/stats?stream=false&one-shot=true for each (API 1.41, dockerd 20.10: Docker
// has no stats for many containers at once; one-shot skips the second sample dockerd would wait
// a second for). CPUs busy from cpu_usage.total_usage's growth over system_cpu_usage's (the host's
// CPU time ÷ online CPUs = wall time, on dockerd's own clock) since the previous call; memory as
// `docker stats` shows it: usage without the inactive page cache.
import type Dockerode from "dockerode";
import { identityKeys, type VmUsageSample } from "../contract/index.ts";
import { CpuRates } from "../usage/cpu-rate.ts";

const mib = 1024 * 1024;

/** The parts of Docker's stats answer used here (cgroup v1 and v2 memory fields). */
export interface ContainerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats?: { usage?: number; stats?: { total_inactive_file?: number; inactive_file?: number; cache?: number } };
}

/** Memory in use, bytes: usage less inactive file pages (v1 total_inactive_file, v2 inactive_file), as the docker CLI counts it. */
export function memoryBytes(m: ContainerStats["memory_stats"]): number | undefined {
  if (m?.usage === undefined) return undefined;
  const s = m.stats ?? {};
  const inactive = s.total_inactive_file ?? s.inactive_file ?? s.cache ?? 0;
  return Math.max(0, m.usage - (inactive < m.usage ? inactive : 0));
}

export class DockerVmUsage {
  private readonly rates = new CpuRates();

  async observe(docker: Dockerode, call: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<VmUsageSample[]> {
    const running = await call("list running containers", () => docker.listContainers({ filters: { label: [identityKeys.uid], status: ["running", "paused"] } }));
    const read = await Promise.all(
      running.map(async (c) => {
        try {
          const stats: ContainerStats = await docker.getContainer(c.Id).stats({ stream: false, "one-shot": true });
          return { id: c.Id, uid: c.Labels[identityKeys.uid] ?? "", stats };
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 404) return undefined; // removed meanwhile
          throw err;
        }
      }),
    );
    const samples: VmUsageSample[] = [];
    const seen = new Set<string>();
    for (const r of read) {
      if (!r || r.uid === "") continue;
      const bytes = memoryBytes(r.stats.memory_stats);
      if (bytes === undefined) continue;
      seen.add(r.id);
      const sample: VmUsageSample = { uid: r.uid, memoryMiB: Math.round((bytes / mib) * 100) / 100 };
      const cpu = r.stats.cpu_stats;
      const online = cpu?.online_cpus ?? 0;
      if (cpu?.cpu_usage?.total_usage !== undefined && cpu.system_cpu_usage !== undefined && online > 0) {
        const cores = this.rates.rate(r.id, BigInt(cpu.cpu_usage.total_usage), BigInt(Math.round(cpu.system_cpu_usage / online)));
        if (cores !== undefined) sample.cpus = Math.round(cores * 1000) / 1000;
      }
      samples.push(sample);
    }
    this.rates.keepOnly(seen);
    return samples;
  }
}
