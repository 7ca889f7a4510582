// Filter: which hosts may take the VM at all, and for each one that may not, every reason why.
import { describeSelector, matches } from "./labels.ts";
import type { AffinityTerm, HostCandidate, PlacementRequest, Resources, Topology } from "./types.ts";

export function free(host: HostCandidate): Resources {
  const ha = host.haReserved ?? { cpus: 0, memoryMiB: 0, storageGiB: 0 };
  return {
    cpus: host.allocatable.cpus - host.allocated.cpus - ha.cpus,
    memoryMiB: host.allocatable.memoryMiB - host.allocated.memoryMiB - ha.memoryMiB,
    storageGiB: host.allocatable.storageGiB - host.allocated.storageGiB - ha.storageGiB,
  };
}

function domainOf(host: HostCandidate, topology: Topology): string {
  switch (topology) {
    case "Host":
      return `host/${host.name}`;
    case "HostPool":
      return `pool/${host.datacenter}/${host.pool ?? ""}`;
    case "Datacenter":
      return `dc/${host.datacenter}`;
  }
}

/** Topology domains that hold at least one VM the term selects (the VM itself excluded). */
function domainsWithMatches(term: AffinityTerm, request: PlacementRequest, hosts: readonly HostCandidate[]): Set<string> {
  const namespaces = term.namespaces ?? [request.vm.namespace];
  const found = new Set<string>();
  for (const host of hosts) {
    for (const vm of host.vms) {
      if (vm.namespace === request.vm.namespace && vm.name === request.vm.name) continue;
      if (namespaces.includes(vm.namespace) && matches(term.selector, vm.labels)) {
        found.add(domainOf(host, term.topology));
        break;
      }
    }
  }
  return found;
}

export interface Filtered {
  fits: HostCandidate[];
  rejected: { host: string; reasons: string[] }[];
  inScope: number;
}

function scopeReasons(host: HostCandidate, r: PlacementRequest): string[] {
  const reasons: string[] = [];
  if (r.datacenter !== undefined && host.datacenter !== r.datacenter) reasons.push(`in datacenter ${host.datacenter}, not ${r.datacenter}`);
  if (r.pool !== undefined && host.pool !== r.pool) reasons.push(`in pool ${host.pool ?? "<none>"}, not ${r.pool}`);
  if (r.hosts !== undefined && r.hosts.length > 0 && !r.hosts.includes(host.name)) reasons.push("not in the VM's host list");
  return reasons;
}

function capacityReasons(host: HostCandidate, need: Resources): string[] {
  const f = free(host);
  const reasons: string[] = [];
  if (need.cpus > f.cpus) reasons.push(`not enough CPU (needs ${need.cpus}, ${Math.max(0, f.cpus)} free)`);
  if (need.memoryMiB > f.memoryMiB) reasons.push(`not enough memory (needs ${need.memoryMiB} MiB, ${Math.max(0, f.memoryMiB)} MiB free)`);
  if (need.storageGiB > f.storageGiB) reasons.push(`not enough storage (needs ${need.storageGiB} GiB, ${Math.max(0, f.storageGiB)} GiB free)`);
  return reasons;
}

function hostReasons(host: HostCandidate, request: PlacementRequest): string[] {
    const reasons: string[] = [];
    if (request.driver !== undefined && host.driver !== request.driver) reasons.push(`driver ${host.driver}, not ${request.driver}`);
    const cannot = request.unsupportedBy?.[host.driver];
    if (cannot !== undefined) reasons.push(cannot);
    if (!host.ready) reasons.push("not ready");
    if (host.maintenance) reasons.push("in maintenance");
    if (request.hostSelector && !matches(request.hostSelector, host.labels)) {
      reasons.push(`labels do not match ${describeSelector(request.hostSelector)}`);
    }
    const missing = host.images === undefined ? [] : (request.vm.images ?? []).filter((i) => !host.images!.includes(i));
    if (missing.length > 0) reasons.push(`no ${host.driver} source for image ${missing.join(", ")}`);
  return reasons;
}

export function filter(request: PlacementRequest, hosts: readonly HostCandidate[]): Filtered {
  const affinity = (request.affinity ?? []).map((term) => ({ term, domains: domainsWithMatches(term, request, hosts) }));
  const anti = (request.antiAffinity ?? []).map((term) => ({ term, domains: domainsWithMatches(term, request, hosts) }));
  const fits: HostCandidate[] = [];
  const rejected: Filtered["rejected"] = [];
  let inScope = 0;
  for (const host of hosts) {
    const outOfScope = scopeReasons(host, request);
    if (outOfScope.length > 0) continue; // out of scope is not worth reporting host by host
    inScope++;
    const reasons = hostReasons(host, request);
    reasons.push(...capacityReasons(host, request.vm.resources));
    for (const { term, domains } of affinity) {
      // As in Kubernetes: the first VM of a group may go anywhere if it matches its own term.
      const firstOfGroup = domains.size === 0 && matches(term.selector, request.vm.labels);
      if (!firstOfGroup && !domains.has(domainOf(host, term.topology))) {
        reasons.push(`affinity: no VM matching ${describeSelector(term.selector)} on this ${term.topology.toLowerCase()}`);
      }
    }
    for (const { term, domains } of anti) {
      if (domains.has(domainOf(host, term.topology))) {
        reasons.push(`anti-affinity: a VM matching ${describeSelector(term.selector)} is on this ${term.topology.toLowerCase()}`);
      }
    }
    if (reasons.length === 0) fits.push(host);
    else rejected.push({ host: host.name, reasons });
  }
  return { fits, rejected, inScope };
}
