// Placement's plain inputs from the caches: every Host as a candidate (ready, maintenance,
// allocatable from its status, allocated from the VMs placed on it — including placements this
// process made that the cache has not seen yet), and the VM's request with the policy resolved
// VM > pool > datacenter > Performance.
import type { AffinityTerm, HostCandidate, PlacedVm, PlacementPolicy, PlacementRequest } from "../placement/types.ts";
import { vmDemand } from "./demand.ts";
import type { DatacenterObject, HostObject, HostPoolObject, VmObject } from "./kinds.ts";
import { toGiB, toMiB } from "../api/quantity.ts";
import { poolMembers } from "./membership.ts";
import { vmKey, type Reservations, type VmsByHost } from "./vms-by-host.ts";
import { catalogImages } from "./driver-spec.ts";
import { unsupported } from "../api/driver-support.ts";
import { drivers } from "../api/fields.ts";

const unlimited = Number.MAX_SAFE_INTEGER;

export interface Fleet {
  hosts: readonly HostObject[];
  pools: readonly HostPoolObject[];
  datacenters: readonly DatacenterObject[];
  /** The VMs each host's status names, with summed demand (kept from the VM cache's events). */
  placed: VmsByHost;
  /** Placements made by this process that the cache has not shown yet. */
  reservations: Reservations;
  /** A VM by key (for reservations the index has not seen on their host yet). */
  vm(key: string): VmObject | undefined;
}

function condition(host: HostObject, type: string): boolean {
  return host.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;
}

/** Catalog images of the host's datacenter that its driver has a source for. */
function hostImages(host: HostObject, datacenters: readonly DatacenterObject[]): string[] | undefined {
  const catalog = datacenters.find((d) => d.metadata.name === host.spec.datacenter)?.spec.images;
  return catalog?.filter((i) => i.sources[host.spec.driver] !== undefined).map((i) => i.name);
}

const placedVm = (vm: VmObject): PlacedVm => ({ namespace: vm.metadata.namespace ?? "", name: vm.metadata.name, labels: vm.metadata.labels ?? {} });

/**
 * Every Host as a candidate. Per host this is O(1) from the index plus this process's
 * reservations not yet in the cache; the list of VMs on a host (only affinity reads it) is built
 * when read. `exclude`: the VM being placed, which counts nowhere.
 */
export function candidates(fleet: Fleet, exclude?: VmObject): HostCandidate[] {
  // no VM excluded (DRS: every VM counts where it is): a key no VM has
  const me = exclude ? vmKey(exclude) : "";
  return fleet.hosts.map((host) => {
    const name = host.metadata.name;
    const allocated = fleet.placed.demand(name);
    const reserved = fleet.reservations.demand(name);
    // the VM being placed counts nowhere (it may be recorded or reserved from an earlier pass)
    const mine = [fleet.placed.hostOf(me) === name ? fleet.placed.demandOf(me) : undefined, fleet.reservations.get(me) === name ? fleet.reservations.demandOf(me) : undefined];
    allocated.cpus += reserved.cpus;
    allocated.memoryMiB += reserved.memoryMiB;
    allocated.storageGiB += reserved.storageGiB;
    for (const d of mine) {
      if (!d) continue;
      allocated.cpus -= d.cpus;
      allocated.memoryMiB -= d.memoryMiB;
      allocated.storageGiB -= d.storageGiB;
    }
    const images = hostImages(host, fleet.datacenters);
    const alloc = host.status?.allocatable;
    const pool = host.spec.pool ?? fleet.pools.find((p) => poolMembers(p, [host]).length > 0)?.metadata.name;
    let vms: PlacedVm[] | undefined;
    return {
      name,
      datacenter: host.spec.datacenter,
      ...(pool !== undefined ? { pool } : {}),
      driver: host.spec.driver,
      labels: host.metadata.labels ?? {},
      // a Host being deleted waits for its VMs to go: it takes no new ones
      ready: !host.metadata.deletionTimestamp && condition(host, "Ready") && condition(host, "Reachable"),
      maintenance: host.spec.maintenance ?? false,
      ...(images !== undefined ? { images } : {}),
      allocatable: { cpus: alloc?.cpus ?? 0, memoryMiB: toMiB(alloc?.memory), storageGiB: alloc?.storage !== undefined ? toGiB(alloc.storage) : unlimited },
      allocated,
      get vms(): readonly PlacedVm[] {
        vms ??= [
          ...fleet.placed.on(name).filter((vm) => vmKey(vm) !== me),
          ...fleet.reservations.on(name).flatMap((key) => (key === me ? [] : (fleet.vm(key) ?? []))),
        ].map(placedVm);
        return vms;
      },
    };
  });
}

type Terms = NonNullable<NonNullable<VmObject["spec"]["placement"]>["affinity"]>;

function terms(list: Terms | undefined): AffinityTerm[] | undefined {
  return list?.map((t) => ({ selector: t.labelSelector, topology: t.topology ?? "Host", ...(t.namespaces ? { namespaces: t.namespaces } : {}) }));
}

/** Policy and scope defaults: the VM's pool's, else its datacenter's. */
function defaultsFor(vm: VmObject, fleet: Pick<Fleet, "pools" | "datacenters">) {
  const p = vm.spec.placement ?? {};
  const pool = p.pool ? fleet.pools.find((x) => x.metadata.name === p.pool) : undefined;
  const datacenter = p.datacenter ?? pool?.spec.datacenter;
  const dc = datacenter ? fleet.datacenters.find((x) => x.metadata.name === datacenter) : undefined;
  return { datacenter, defaults: pool?.spec.placement ?? dc?.spec.placement };
}

export function placementRequest(vm: VmObject, fleet: Pick<Fleet, "pools" | "datacenters">): PlacementRequest {
  const p = vm.spec.placement ?? {};
  const { datacenter, defaults } = defaultsFor(vm, fleet);
  const policy: PlacementPolicy = p.policy ?? defaults?.policy ?? "Performance";
  const d = vmDemand(vm);
  // catalog names of the VM's datacenter, or of any datacenter when the VM names none
  const images = [...new Set((datacenter ? fleet.datacenters.filter((x) => x.metadata.name === datacenter) : fleet.datacenters).flatMap((dc) => catalogImages(vm, dc)))];
  const request: PlacementRequest = {
    vm: {
      namespace: vm.metadata.namespace ?? "",
      name: vm.metadata.name,
      labels: vm.metadata.labels ?? {},
      resources: { cpus: d.cpus, memoryMiB: d.memoryMiB, storageGiB: d.storageGiB ?? 0 },
      ...(images.length > 0 ? { images } : {}),
    },
    policy,
    ...driversThatCannot(vm),
  };
  const hosts = p.hosts ?? (defaults?.scope === "Hosts" ? defaults.hosts : undefined);
  const affinity = terms(p.affinity);
  const anti = terms(p.antiAffinity);
  return {
    ...request,
    ...(datacenter ? { datacenter } : {}),
    ...(p.pool ? { pool: p.pool } : {}),
    ...(hosts ? { hosts } : {}),
    ...(p.driver ? { driver: p.driver } : {}),
    ...(p.hostSelector ? { hostSelector: p.hostSelector } : {}),
    ...(affinity ? { affinity } : {}),
    ...(anti ? { antiAffinity: anti } : {}),
  };
}

/** Drivers that cannot do what the VM's devices or cloud-init ask for, each with what it cannot (src/api/driver-support.ts). */
function driversThatCannot(vm: VmObject): Pick<PlacementRequest, "unsupportedBy"> {
  const out: NonNullable<PlacementRequest["unsupportedBy"]> = {};
  for (const driver of drivers) {
    const cannot = unsupported(vm.spec, driver);
    if (cannot.length > 0) out[driver] = cannot.join("; ");
  }
  return Object.keys(out).length > 0 ? { unsupportedBy: out } : {};
}
