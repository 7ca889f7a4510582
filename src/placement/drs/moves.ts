// May this VM go to that host now? The same answer placement gives (src/placement/filter.ts:
// scope, driver and what it cannot do, image, host selector, ready, maintenance, capacity with
// overcommit and the HA reserve, affinity), with the earlier planned moves applied, plus: the
// move breaks no other VM's rule. `check` is the fast form used for every candidate; `confirm`
// runs placement's own filter once on the move the planner picks.
import { filter, free } from "../filter.ts";
import type { HostCandidate, PlacementRequest } from "../types.ts";
import type { Rules } from "./rules.ts";
import { candidateView, type HostState, type PoolState, type VmState } from "./state.ts";

const zero = { cpus: 0, memoryMiB: 0, storageGiB: 0 };

export class Moves {
  /** Per (VM, host): what never changes while planning — scope, driver, image, selector, ready, maintenance. */
  private readonly fixed = new Map<number, string | null>();
  private readonly requests = new Map<number, PlacementRequest>();

  private readonly pool: PoolState;
  private readonly rules: Rules;

  constructor(pool: PoolState, rules: Rules) {
    this.pool = pool;
    this.rules = rules;
  }

  /** Undefined when `v` may move to host `t` now; else why not. */
  check(v: VmState, t: number): string | undefined {
    const to = this.pool.hosts[t]!;
    if (t === v.host) return "already there";
    if (!to.active) return `${to.host.name} takes no moves`;
    const room = this.roomOn(v, to);
    if (room !== undefined) return room;
    const fixed = this.fixedReason(v, to);
    if (fixed !== undefined) return fixed;
    return this.rules.violation(v, to, false) ?? this.rules.harmsOthers(v, this.pool.hosts[v.host]!, to);
  }

  /** Placement's own filter for the VM's request on the target as it is now (Host-topology rules; the others hold the same everywhere in a pool). */
  confirm(v: VmState, t: number): string | undefined {
    const to = this.pool.hosts[t]!;
    const from = this.pool.hosts[v.host]!;
    const request = this.request(v);
    // Filter reads a host's VMs only for affinity: without rules, the hosts as they are suffice.
    const ruled = (request.affinity?.length ?? 0) + (request.antiAffinity?.length ?? 0) > 0;
    const view = (h: HostState): HostCandidate => (ruled ? candidateView(this.pool, h) : { ...h.host, allocated: { ...h.allocated } });
    const views: HostCandidate[] = [view(to), view(from)];
    // A host holding a member of each affinity group, so filter knows the group exists.
    for (const [i] of (request.affinity ?? []).entries()) {
      const elsewhere = [...(this.rules.memberHosts(v, i) ?? [])].filter((h) => h !== t && h !== v.host).sort((a, b) => a - b)[0];
      if (elsewhere !== undefined) views.push(candidateView(this.pool, this.pool.hosts[elsewhere]!));
    }
    const result = filter(request, views);
    if (result.fits.some((h) => h.name === to.host.name)) return this.rules.harmsOthers(v, from, to);
    return result.rejected.find((r) => r.host === to.host.name)?.reasons.join("; ") ?? `${to.host.name} is out of the VM's scope`;
  }

  private roomOn(v: VmState, to: HostState): string | undefined {
    const need = v.vm.request.vm.resources;
    const f = free({ ...to.host, allocated: to.allocated });
    if (need.cpus > f.cpus) return `not enough CPU on ${to.host.name}`;
    if (need.memoryMiB > f.memoryMiB) return `not enough memory on ${to.host.name}`;
    if (need.storageGiB > f.storageGiB) return `not enough storage on ${to.host.name}`;
    return undefined;
  }

  private fixedReason(v: VmState, to: HostState): string | undefined {
    const key = v.index * this.pool.hosts.length + to.index;
    let reason = this.fixed.get(key);
    if (reason === undefined) {
      const r = v.vm.request;
      const bare: PlacementRequest = { ...r, vm: { ...r.vm, resources: zero }, affinity: undefined, antiAffinity: undefined };
      const result = filter(bare, [{ ...to.host, allocated: zero, haReserved: undefined }]);
      reason = result.fits.length === 1 ? null : (result.rejected[0]?.reasons.join("; ") ?? `${to.host.name} is out of the VM's scope`);
      this.fixed.set(key, reason);
    }
    return reason ?? undefined;
  }

  /** The VM's request with its Host-topology rules only. */
  private request(v: VmState): PlacementRequest {
    let r = this.requests.get(v.index);
    if (r === undefined) {
      const base = v.vm.request;
      r = { ...base, affinity: base.affinity?.filter((t) => t.topology === "Host"), antiAffinity: base.antiAffinity?.filter((t) => t.topology === "Host") };
      this.requests.set(v.index, r);
    }
    return r;
  }
}
