// Replays a plan on its input the way the controller would make it, checking every move with
// placement's own filter over the whole pool as it is at that step — independent of the planner's
// bookkeeping. For the planner's tests.
import { filter } from "../filter.ts";
import type { HostCandidate } from "../types.ts";
import type { DrsInput, DrsPlan } from "./types.ts";

/** √((σ_cpu² + σ_mem²) / 2) of the active hosts' loads, computed from scratch. */
export function poolImbalance(input: DrsInput, at: ReadonlyMap<string, string>): number {
  const active = input.hosts.filter((h) => h.ready && !h.maintenance && h.cannotMigrate === undefined && h.allocatable.cpus > 0 && h.allocatable.memoryMiB > 0);
  const cpu = new Map(active.map((h) => [h.name, 0]));
  const mem = new Map(active.map((h) => [h.name, 0]));
  for (const v of input.vms) {
    const h = at.get(`${v.request.vm.namespace}/${v.request.vm.name}`)!;
    if (!cpu.has(h)) continue;
    cpu.set(h, cpu.get(h)! + (v.demand?.cpus ?? v.request.vm.resources.cpus));
    mem.set(h, mem.get(h)! + (v.demand?.memoryMiB ?? v.request.vm.resources.memoryMiB));
  }
  const sd = (xs: number[]): number => {
    if (xs.length === 0) return 0;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  };
  const cl = active.map((h) => cpu.get(h.name)! / h.allocatable.cpus);
  const ml = active.map((h) => mem.get(h.name)! / h.allocatable.memoryMiB);
  return Math.sqrt((sd(cl) ** 2 + sd(ml) ** 2) / 2);
}

/** Every problem found replaying the plan (empty: every move was valid when made), and where each VM ends. */
export function replay(input: DrsInput, plan: DrsPlan): { problems: string[]; at: Map<string, string>; hosts: HostCandidate[] } {
  const hosts: HostCandidate[] = input.hosts.map((h) => ({ ...h, allocated: { ...h.allocated }, vms: [...h.vms] }));
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const drsHost = new Map(input.hosts.map((h) => [h.name, h]));
  const at = new Map(input.vms.map((v) => [`${v.request.vm.namespace}/${v.request.vm.name}`, v.host]));
  const vmByKey = new Map(input.vms.map((v) => [`${v.request.vm.namespace}/${v.request.vm.name}`, v]));
  const problems: string[] = [];
  const moved = new Set<string>();
  for (const [n, r] of plan.recommendations.entries()) {
    const key = `${r.vm.namespace}/${r.vm.name}`;
    const vm = vmByKey.get(key);
    if (vm === undefined) {
      problems.push(`#${n}: unknown VM ${key}`);
      continue;
    }
    if (moved.has(key)) problems.push(`#${n}: ${key} moves twice`);
    moved.add(key);
    if (vm.cannotMove !== undefined) problems.push(`#${n}: ${key} may not move (${vm.cannotMove})`);
    if (at.get(key) !== r.from) problems.push(`#${n}: ${key} is on ${at.get(key)}, not ${r.from}`);
    for (const h of [r.from, r.to]) if (drsHost.get(h)?.cannotMigrate !== undefined) problems.push(`#${n}: ${h} cannot live-migrate`);
    // Only Host-topology rules can differ between hosts of one pool.
    const request = { ...vm.request, affinity: vm.request.affinity?.filter((t) => t.topology === "Host"), antiAffinity: vm.request.antiAffinity?.filter((t) => t.topology === "Host") };
    const verdict = filter(request, hosts);
    if (!verdict.fits.some((h) => h.name === r.to)) {
      problems.push(`#${n}: ${key} → ${r.to} refused by placement: ${verdict.rejected.find((x) => x.host === r.to)?.reasons.join("; ") ?? "out of scope"}`);
    }
    const from = byName.get(r.from)!;
    const to = byName.get(r.to)!;
    const res = vm.request.vm.resources;
    from.allocated = { cpus: from.allocated.cpus - res.cpus, memoryMiB: from.allocated.memoryMiB - res.memoryMiB, storageGiB: from.allocated.storageGiB - res.storageGiB };
    to.allocated = { cpus: to.allocated.cpus + res.cpus, memoryMiB: to.allocated.memoryMiB + res.memoryMiB, storageGiB: to.allocated.storageGiB + res.storageGiB };
    from.vms = from.vms.filter((x) => `${x.namespace}/${x.name}` !== key);
    to.vms = [...to.vms, { namespace: vm.request.vm.namespace, name: vm.request.vm.name, labels: vm.request.vm.labels }];
    at.set(key, r.to);
    const imbalance = poolImbalance(input, at);
    if (Math.abs(imbalance - r.imbalanceAfter) > 1e-9) problems.push(`#${n}: imbalanceAfter ${r.imbalanceAfter}, replay says ${imbalance}`);
  }
  return { problems, at, hosts };
}
