// Placement: filter, then score. Performance spreads (most free resources after placement;
// ties round-robin), Progressive packs (the fullest host that still fits; ties by name, so one
// host fills before the next). The decision carries a message for the VM's Scheduled condition.
import { filter, free } from "./filter.ts";
import type { Decision, HostCandidate, PlacementRequest, Resources } from "./types.ts";

export interface PlaceOptions {
  /** A counter the caller advances per decision; picks among equally good hosts in turn. */
  round?: number;
}

const epsilon = 1e-9;

/** Mean fraction of CPU and memory left free after placing `need` (0 = full, 1 = empty). */
function freeFractionAfter(host: HostCandidate, need: Resources): number {
  const f = free(host);
  const frac = (left: number, total: number): number => (total > 0 ? (left / total) : 0);
  return (frac(f.cpus - need.cpus, host.allocatable.cpus) + frac(f.memoryMiB - need.memoryMiB, host.allocatable.memoryMiB)) / 2;
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

export function place(request: PlacementRequest, hosts: readonly HostCandidate[], options: PlaceOptions = {}): Decision {
  const { fits, rejected, inScope } = filter(request, hosts);
  if (inScope === 0) {
    const scope = [
      request.datacenter && `datacenter ${request.datacenter}`,
      request.pool && `pool ${request.pool}`,
      request.hosts?.length && `hosts ${request.hosts.join(", ")}`,
    ].filter(Boolean).join(", ");
    return { reason: "NoHostsInScope", message: `no hosts in scope (${scope || "any"})`, rejected };
  }
  if (fits.length === 0) {
    const detail = rejected.slice(0, 5).map((r) => `${r.host}: ${r.reasons.join("; ")}`).join(" | ");
    const more = rejected.length > 5 ? ` | and ${rejected.length - 5} more` : "";
    return { reason: "NoHostFits", message: `none of ${inScope} hosts fits: ${detail}${more}`, rejected };
  }

  const need = request.vm.resources;
  const scored = fits.map((host) => ({ host, score: freeFractionAfter(host, need) }));
  let best: { host: HostCandidate; score: number };
  if (request.policy === "Performance") {
    const top = Math.max(...scored.map((s) => s.score));
    const tied = scored.filter((s) => top - s.score < epsilon).sort((a, b) => a.host.name.localeCompare(b.host.name));
    best = tied[(options.round ?? 0) % tied.length]!;
  } else {
    const low = Math.min(...scored.map((s) => s.score));
    best = scored.filter((s) => s.score - low < epsilon).sort((a, b) => a.host.name.localeCompare(b.host.name))[0]!;
  }
  const why = request.policy === "Performance" ? "most free resources" : "fullest host that fits";
  return {
    host: best.host.name,
    reason: "Placed",
    message: `placed on ${best.host.name} (${request.policy}: ${why}, ${pct(best.score)} of CPU and memory free after placement; ${fits.length} of ${inScope} hosts fit)`,
    rejected,
  };
}
