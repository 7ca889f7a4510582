// Affinity and anti-affinity inside one pool. Only Host-topology terms can be kept or broken by a
// move between the pool's hosts (HostPool and Datacenter terms see every host of the pool as the
// same place), so these are the rules the planner checks, fixes and never breaks — for the VM it
// moves and for the VMs it leaves or joins.
import { describeSelector, matches } from "../labels.ts";
import type { AffinityTerm, PlacedVm } from "../types.ts";
import type { HostState, PoolState, VmState } from "./state.ts";

interface HostTerms {
  affinity: AffinityTerm[];
  anti: AffinityTerm[];
}

const none: HostTerms = { affinity: [], anti: [] };

export class Rules {
  private readonly terms: HostTerms[];
  /** Per VM and affinity term: does any other VM of the pool match it (cached; moves do not change it)? */
  private readonly groups = new Map<string, boolean>();

  private readonly pool: PoolState;

  constructor(pool: PoolState) {
    this.pool = pool;
    this.terms = pool.vms.map((v) => {
      const r = v.vm.request;
      const affinity = (r.affinity ?? []).filter((t) => t.topology === "Host");
      const anti = (r.antiAffinity ?? []).filter((t) => t.topology === "Host");
      return affinity.length + anti.length === 0 ? none : { affinity, anti };
    });
  }

  hasRules(v: VmState): boolean {
    return this.terms[v.index] !== none;
  }

  /** Why `v` would break its own rules on host `h` (the others where they are now; `v` itself never counts). */
  violations(v: VmState, h: HostState): string[] {
    const t = this.terms[v.index]!;
    if (t === none) return [];
    const out: string[] = [];
    for (const term of t.anti) {
      const other = this.firstMatch(term, v, h, undefined);
      if (other !== undefined) out.push(`anti-affinity with ${other.name} (${describeSelector(term.selector)}) on ${h.host.name}`);
    }
    for (const [i, term] of t.affinity.entries()) {
      if (this.firstMatch(term, v, h, undefined) !== undefined) continue;
      // As placement: the first VM of a group may go anywhere if it matches its own term.
      if (!this.groupExists(v, i, term) && matches(term.selector, v.vm.request.vm.labels)) continue;
      out.push(`affinity: no VM matching ${describeSelector(term.selector)} on ${h.host.name}`);
    }
    return out;
  }

  /** Would moving `v` from `from` to `to` break a rule of a VM already on either host? */
  harmsOthers(v: VmState, from: HostState, to: HostState): string | undefined {
    const labels = v.vm.request.vm;
    for (const i of to.vms) {
      const w = this.pool.vms[i]!;
      for (const term of this.terms[i]!.anti) {
        if (inTerm(term, w, labels)) return `${w.vm.request.vm.name} on ${to.host.name} has anti-affinity with it`;
      }
    }
    for (const i of from.vms) {
      if (i === v.index) continue;
      const w = this.pool.vms[i]!;
      for (const term of this.terms[i]!.affinity) {
        if (inTerm(term, w, labels) && this.firstMatch(term, w, from, v) === undefined) return `${w.vm.request.vm.name} on ${from.host.name} has affinity with it`;
      }
    }
    return undefined;
  }

  private firstMatch(term: AffinityTerm, owner: VmState, h: HostState, except: VmState | undefined): PlacedVm | undefined {
    for (const i of h.vms) {
      if (i === owner.index || i === except?.index) continue;
      const vm = this.pool.vms[i]!.vm.request.vm;
      if (inTerm(term, owner, vm)) return vm;
    }
    return h.others.find((vm) => inTerm(term, owner, vm));
  }

  private groupExists(v: VmState, i: number, term: AffinityTerm): boolean {
    const key = `${v.index}/${i}`;
    let found = this.groups.get(key);
    if (found === undefined) {
      found = this.pool.vms.some((w) => w !== v && inTerm(term, v, w.vm.request.vm)) || this.pool.hosts.some((h) => h.others.some((vm) => inTerm(term, v, vm)));
      this.groups.set(key, found);
    }
    return found;
  }
}

function inTerm(term: AffinityTerm, owner: VmState, vm: PlacedVm): boolean {
  const namespaces = term.namespaces ?? [owner.vm.request.vm.namespace];
  return namespaces.includes(vm.namespace) && matches(term.selector, vm.labels);
}
