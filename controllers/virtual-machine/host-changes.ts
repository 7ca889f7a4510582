// Which Host changes can let a Pending VM be placed now. Every Host status write (counts,
// conditions) used to queue every unplaced VM again: with many Pending VMs and a busy fleet, a
// requeue storm that placed nothing new. Only a change that adds room or eligibility does.
import { toMiB } from "../../src/api/quantity.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";

const ready = (h: HostObject): boolean => h.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

function room(h: HostObject): { cpus: number; memoryMiB: number } {
  const alloc = h.status?.allocatable;
  const used = h.status?.allocated;
  return { cpus: (alloc?.cpus ?? 0) - (used?.cpus ?? 0), memoryMiB: toMiB(alloc?.memory) - toMiB(used?.memory) };
}

/** Whether after may take a VM that before could not: a new spec or labels, Ready again, more room. */
export function mayPlaceMore(before: HostObject, after: HostObject): boolean {
  if (before.metadata.generation !== after.metadata.generation) return true;
  if (JSON.stringify(before.metadata.labels ?? {}) !== JSON.stringify(after.metadata.labels ?? {})) return true;
  if (!ready(before) && ready(after)) return true;
  if (before.status?.phase !== after.status?.phase && after.status?.phase === "Ready") return true;
  const [a, b] = [room(before), room(after)];
  return b.cpus > a.cpus || b.memoryMiB > a.memoryMiB;
}
