// Synthetic pools for the planner's tests and benchmark: plain builders and a seeded generator
// (the same seed gives the same pool, so a failing seed can be replayed).
import type { AffinityTerm, Resources } from "../types.ts";
import type { DrsHost, DrsInput, DrsVm, MigrationThreshold } from "./types.ts";

/** mulberry32: a small deterministic PRNG, [0, 1). Also the mutating proxy's (tests/harness): a seed replays a failure. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(xs: T[], r: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export const res = (cpus: number, memoryMiB: number, storageGiB = 0): Resources => ({ cpus, memoryMiB, storageGiB });

export function drsHost(name: string, allocatable: Resources, over: Partial<DrsHost> = {}): DrsHost {
  return { name, datacenter: "dc1", pool: "gold", driver: "libvirt", labels: {}, ready: true, maintenance: false, allocatable, allocated: res(0, 0, 0), vms: [], ...over };
}

export interface VmSpec {
  name: string;
  host: string;
  resources: Resources;
  labels?: Record<string, string>;
  demand?: DrsVm["demand"];
  cannotMove?: string;
  affinity?: AffinityTerm[];
  antiAffinity?: AffinityTerm[];
  namespace?: string;
}

export function drsVm(spec: VmSpec): DrsVm {
  return {
    request: {
      vm: { namespace: spec.namespace ?? "t1", name: spec.name, labels: spec.labels ?? {}, resources: spec.resources },
      policy: "Performance",
      pool: "gold",
      affinity: spec.affinity,
      antiAffinity: spec.antiAffinity,
    },
    host: spec.host,
    demand: spec.demand,
    cannotMove: spec.cannotMove,
  };
}

/** Hosts and VMs as the controller would hand them over: each host's allocated and VM list are the sum of the VMs on it. */
export function poolOf(hosts: DrsHost[], vms: DrsVm[], threshold: MigrationThreshold = 3, maxMoves?: number): DrsInput {
  const byHost = new Map(hosts.map((h) => [h.name, { ...h, allocated: { ...h.allocated }, vms: [...h.vms] }]));
  for (const v of vms) {
    const h = byHost.get(v.host);
    if (h === undefined) throw new Error(`VM ${v.request.vm.name} on unknown host ${v.host}`);
    const r = v.request.vm.resources;
    h.allocated = res(h.allocated.cpus + r.cpus, h.allocated.memoryMiB + r.memoryMiB, h.allocated.storageGiB + r.storageGiB);
    h.vms.push({ namespace: v.request.vm.namespace, name: v.request.vm.name, labels: v.request.vm.labels });
  }
  return { hosts: [...byHost.values()], vms, threshold, ...(maxMoves !== undefined ? { maxMoves } : {}) };
}

/** A small skewed pool: `hostCount` hosts of mixed sizes, `vmCount` VMs of mixed sizes, most of them on the first host(s), every host within its allocatable. */
export function smallPool(seed: number, hostCount: number, vmCount: number): DrsInput {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const hosts = Array.from({ length: hostCount }, (_, i) => drsHost(`h${i}`, res(pick([8, 16, 32]), pick([16, 32, 64]) * 1024)));
  const used = hosts.map(() => res(0, 0));
  const vms: DrsVm[] = [];
  for (let i = 0; i < vmCount; i++) {
    const resources = res(pick([1, 2, 4]), pick([1, 2, 4, 8]) * 1024);
    // Skew: the first host is tried first most of the time.
    const order = hosts.map((_, j) => j);
    if (r() >= 0.7) shuffle(order, r);
    const at = order.find((j) => used[j]!.cpus + resources.cpus <= hosts[j]!.allocatable.cpus && used[j]!.memoryMiB + resources.memoryMiB <= hosts[j]!.allocatable.memoryMiB);
    if (at === undefined) continue;
    used[at] = res(used[at]!.cpus + resources.cpus, used[at]!.memoryMiB + resources.memoryMiB);
    const demand = r() < 0.5 ? { cpus: Math.round(resources.cpus * (0.2 + 0.8 * r()) * 10) / 10, memoryMiB: Math.round(resources.memoryMiB * (0.3 + 0.7 * r())) } : undefined;
    vms.push(drsVm({ name: `vm${i}`, host: hosts[at]!.name, resources, demand }));
  }
  return poolOf(hosts, vms);
}

/**
 * A large pool as a datacenter has them (the planner benchmark): hosts of three sizes; VMs from
 * 1 vCPU / 1 GiB to 16 vCPU / 64 GiB, small ones most common; hosts filled unevenly (a few hot,
 * many lukewarm, some nearly empty); 3-replica anti-affinity groups and web+cache affinity pairs;
 * live usage for most VMs; some VMs that may not move, a few hosts in maintenance and a few that
 * cannot live-migrate.
 */
export function largePool(seed: number, hostCount: number, vmCount: number): DrsInput {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const hosts = Array.from({ length: hostCount }, (_, i) => {
    const size = pick([1, 2, 2, 4]);
    return drsHost(`host-${String(i).padStart(4, "0")}`, res(32 * size, 256 * size * 1024, 4000), {
      maintenance: i % 211 === 7,
      ...(i % 97 === 3 ? { cannotMigrate: "docker has no live migration", driver: "docker" as const } : {}),
    });
  });
  // Each host's share of new VMs: a few hot, many lukewarm, some nearly empty.
  const weight = hosts.map(() => {
    const x = r();
    return x < 0.05 ? 6 : x < 0.8 ? 1 : 0.15;
  });
  const total = weight.reduce((a, b) => a + b, 0);
  const used = hosts.map(() => res(0, 0));
  const sizes = [res(1, 1024), res(1, 2048), res(2, 4096), res(2, 4096), res(2, 8192), res(4, 8192), res(4, 16384), res(8, 32768), res(16, 65536)];
  const weights = [20, 18, 16, 12, 10, 10, 7, 5, 2];
  const sizeOf = (): Resources => {
    let x = r() * weights.reduce((a, b) => a + b, 0);
    for (const [i, w] of weights.entries()) if ((x -= w) < 0) return sizes[i]!;
    return sizes[0]!;
  };
  const vms: DrsVm[] = [];
  for (let i = 0; i < vmCount; i++) {
    const resources = sizeOf();
    let at = -1;
    for (let tries = 0; tries < 20 && at < 0; tries++) {
      let x = r() * total;
      let j = 0;
      while ((x -= weight[j]!) > 0 && j < hosts.length - 1) j++;
      const h = hosts[j]!;
      if (!h.maintenance && used[j]!.cpus + resources.cpus <= h.allocatable.cpus && used[j]!.memoryMiB + resources.memoryMiB <= h.allocatable.memoryMiB) at = j;
    }
    if (at < 0) continue;
    used[at] = res(used[at]!.cpus + resources.cpus, used[at]!.memoryMiB + resources.memoryMiB);
    const group = Math.floor(i / 3);
    const rules = i % 100 < 5 ? { labels: { app: `db-${group}` }, antiAffinity: [{ selector: { matchLabels: { app: `db-${group}` } }, topology: "Host" as const }] } : {};
    const pair = i % 100 === 50 ? { labels: { app: `web-${i}` } } : i % 100 === 51 ? { labels: { app: `cache-${i - 1}` }, affinity: [{ selector: { matchLabels: { app: `web-${i - 1}` } }, topology: "Host" as const }] } : {};
    const demand = r() < 0.8 ? { cpus: Math.round(resources.cpus * (0.05 + 0.9 * r()) * 100) / 100, memoryMiB: Math.round(resources.memoryMiB * (0.3 + 0.7 * r())) } : undefined;
    vms.push(drsVm({ name: `vm-${String(i).padStart(5, "0")}`, namespace: `team-${Math.floor(i / 100) % 7}`, host: hosts[at]!.name, resources, demand, cannotMove: i % 53 === 0 ? "cooling down after a move" : undefined, ...rules, ...pair }));
  }
  return poolOf(hosts, vms);
}
