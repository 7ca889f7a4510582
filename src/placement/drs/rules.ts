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
  /** Per VM and affinity term: the other VMs of the pool that match it (cached; moves do not change who matches). */
  private readonly groups = new Map<string, { members: number[]; elsewhere: boolean }>();

  private readonly pool: PoolState;
  /** "key=value" → VMs with that label, built on first use. */
  private byLabel: Map<string, number[]> | undefined;
  private readonly byTerm = new Map<AffinityTerm, number[]>();
  /** Some host lists VMs that are not in the input. */
  private readonly anyOthers: boolean;

  constructor(pool: PoolState) {
    this.pool = pool;
    this.anyOthers = pool.hosts.some((h) => h.others.length > 0);
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

  /** Why `v` would break its own rules on host `h` (the others where they are now; `v` itself never counts), or undefined. */
  violation(v: VmState, h: HostState, explain = true): string | undefined {
    const t = this.terms[v.index]!;
    if (t === none) return undefined;
    for (const term of t.anti) {
      const other = this.firstMatch(term, v, h, undefined);
      if (other !== undefined) return explain ? `anti-affinity with ${other.name} (${describeSelector(term.selector)}) on ${h.host.name}` : "anti-affinity";
    }
    for (const [i, term] of t.affinity.entries()) {
      if (this.firstMatch(term, v, h, undefined) !== undefined) continue;
      // As placement: the first VM of a group may go anywhere if it matches its own term.
      if (!this.groupExists(v, i, term) && matches(term.selector, v.vm.request.vm.labels)) continue;
      return explain ? `affinity: no VM matching ${describeSelector(term.selector)} on ${h.host.name}` : "affinity";
    }
    return undefined;
  }

  /** Would moving `v` from `from` to `to` break a rule of a VM already on either host? */
  harmsOthers(v: VmState, from: HostState, to: HostState): string | undefined {
    if (to.ruled.size === 0 && (from.ruled.size === 0 || (from.ruled.size === 1 && from.ruled.has(v.index)))) return undefined;
    const labels = v.vm.request.vm;
    for (const i of to.ruled) {
      const w = this.pool.vms[i]!;
      for (const term of this.terms[i]!.anti) {
        if (inTerm(term, w, labels)) return `${w.vm.request.vm.name} on ${to.host.name} has anti-affinity with it`;
      }
    }
    for (const i of from.ruled) {
      if (i === v.index) continue;
      const w = this.pool.vms[i]!;
      for (const term of this.terms[i]!.affinity) {
        if (inTerm(term, w, labels) && this.firstMatch(term, w, from, v) === undefined) return `${w.vm.request.vm.name} on ${from.host.name} has affinity with it`;
      }
    }
    return undefined;
  }

  private firstMatch(term: AffinityTerm, owner: VmState, h: HostState, except: VmState | undefined): PlacedVm | undefined {
    if (term.selector.matchLabels !== undefined && this.candidates(term).length < h.vms.size) {
      // Few VMs carry the term's label: look where they are rather than through the host's VMs.
      for (const i of this.candidates(term)) {
        if (i === owner.index || i === except?.index) continue;
        const w = this.pool.vms[i]!;
        if (w.host === h.index && inTerm(term, owner, w.vm.request.vm)) return w.vm.request.vm;
      }
      return h.others.length === 0 ? undefined : h.others.find((vm) => inTerm(term, owner, vm));
    }
    for (const i of h.vms) {
      if (i === owner.index || i === except?.index) continue;
      const vm = this.pool.vms[i]!.vm.request.vm;
      if (inTerm(term, owner, vm)) return vm;
    }
    return h.others.find((vm) => inTerm(term, owner, vm));
  }

  /** VMs that may match the term: those carrying one of its matchLabels (from an index of labels), else all. */
  private candidates(term: AffinityTerm): number[] {
    let found = this.byTerm.get(term);
    if (found === undefined) {
      found = this.lookUp(term);
      this.byTerm.set(term, found);
    }
    return found;
  }

  private lookUp(term: AffinityTerm): number[] {
    const entries = Object.entries(term.selector.matchLabels ?? {});
    if (entries.length === 0) return this.pool.vms.map((v) => v.index);
    if (this.byLabel === undefined) {
      this.byLabel = new Map();
      for (const v of this.pool.vms) {
        for (const [k, value] of Object.entries(v.vm.request.vm.labels)) {
          const key = `${k}=${value}`;
          const list = this.byLabel.get(key);
          if (list === undefined) this.byLabel.set(key, [v.index]);
          else list.push(v.index);
        }
      }
    }
    const [k, value] = entries[0]!;
    return this.byLabel.get(`${k}=${value}`) ?? [];
  }

  /** For a VM with Host affinity: the hosts where members of its first group are now (where a fix can go); else undefined. */
  memberHosts(v: VmState, termIndex = 0): Set<number> | undefined {
    const term = this.terms[v.index]!.affinity[termIndex];
    if (term === undefined) return undefined;
    return new Set(this.group(v, termIndex, term).members.map((i) => this.pool.vms[i]!.host));
  }

  private groupExists(v: VmState, i: number, term: AffinityTerm): boolean {
    const g = this.group(v, i, term);
    return g.members.length > 0 || g.elsewhere;
  }

  private group(v: VmState, i: number, term: AffinityTerm): { members: number[]; elsewhere: boolean } {
    const key = `${v.index}/${i}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      const members = this.candidates(term).filter((i) => i !== v.index && inTerm(term, v, this.pool.vms[i]!.vm.request.vm));
      g = { members, elsewhere: this.anyOthers && this.pool.hosts.some((h) => h.others.some((vm) => inTerm(term, v, vm))) };
      this.groups.set(key, g);
    }
    return g;
  }
}

function inTerm(term: AffinityTerm, owner: VmState, vm: PlacedVm): boolean {
  const namespaces = term.namespaces ?? [owner.vm.request.vm.namespace];
  return namespaces.includes(vm.namespace) && matches(term.selector, vm.labels);
}
