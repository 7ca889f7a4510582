// HA admission control (vSphere's "host failures cluster tolerates", without slots): a placement
// is refused when, after it, the pool could no longer restart the VMs of its N largest hosts on
// the others — the survivors' free CPUs and memory must hold what the N most loaded hosts run.
// Hosts that are not ready or in maintenance take nothing, so they count as neither. Pure.
import type { HostCandidate, Resources } from "./types.ts";

export interface HaReserve {
  /** Host failures the pool must absorb (HAPolicy reservedHostFailures). */
  failures: number;
  /** Who asks for it, for the message. */
  policy: string;
}

/** Why placing `need` on `chosen` breaks the pool's HA reserve, or undefined when it does not. */
export function breaksReserve(pool: readonly HostCandidate[], chosen: string, need: Resources, reserve: HaReserve): string | undefined {
  if (reserve.failures <= 0) return undefined;
  const hosts = pool
    .filter((h) => h.ready && !h.maintenance)
    .map((h) => ({
      name: h.name,
      allocatable: h.allocatable,
      allocated: h.name === chosen ? { cpus: h.allocated.cpus + need.cpus, memoryMiB: h.allocated.memoryMiB + need.memoryMiB } : h.allocated,
    }))
    // the largest first: by memory, then CPUs (what a restart needs most of)
    .sort((a, b) => b.allocated.memoryMiB - a.allocated.memoryMiB || b.allocated.cpus - a.allocated.cpus || a.name.localeCompare(b.name));
  const lost = hosts.slice(0, reserve.failures);
  const survivors = hosts.slice(reserve.failures);
  const needed = { cpus: sum(lost.map((h) => h.allocated.cpus)), memoryMiB: sum(lost.map((h) => h.allocated.memoryMiB)) };
  const free = {
    cpus: sum(survivors.map((h) => Math.max(0, h.allocatable.cpus - h.allocated.cpus))),
    memoryMiB: sum(survivors.map((h) => Math.max(0, h.allocatable.memoryMiB - h.allocated.memoryMiB))),
  };
  if (needed.cpus <= free.cpus && needed.memoryMiB <= free.memoryMiB) return undefined;
  const names = lost.map((h) => h.name).join(", ");
  return (
    `placing it on ${chosen} would leave the pool unable to restart the VMs of its ${reserve.failures} largest host(s) (${names}: ${needed.cpus} CPUs, ${needed.memoryMiB} MiB) ` +
    `on the other ${survivors.length} (${free.cpus} CPUs, ${free.memoryMiB} MiB free): HAPolicy ${reserve.policy} reserves capacity for ${reserve.failures} host failure(s) (reservedHostFailures)`
  );
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
