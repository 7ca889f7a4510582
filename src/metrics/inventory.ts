// The fleet as gauges, computed at scrape time from the manager's caches (no API call): every
// kind by phase, hosts, pools and datacenters by capacity and allocation, VMs by host and phase,
// VMs stuck Pending or crash-looping per namespace, quotas used and hard, and the allocation
// imbalance across each pool's hosts (what DRS will act on). Pure: fleet.ts feeds it the caches.
// No label ever takes a value per VirtualMachine (ADR 0035): a VM is counted, never named.
import { quantityBytes } from "../api/quantity.ts";
import type { HAPolicyObject } from "../fleet/failovers.ts";
import type { DatacenterObject, HostObject, HostPoolObject, VAppObject, VdcQuotaObject, VmMigrationObject, VmObject } from "../fleet/kinds.ts";
import { poolMembers } from "../fleet/membership.ts";
import type { KubeObject } from "../runtime/resource.ts";

export interface Fleet {
  hosts: readonly HostObject[];
  pools: readonly HostPoolObject[];
  datacenters: readonly DatacenterObject[];
  vms: readonly VmObject[];
  vapps: readonly VAppObject[];
  quotas: readonly VdcQuotaObject[];
  migrations: readonly VmMigrationObject[];
  haPolicies: readonly HAPolicyObject[];
  drsPolicies: readonly KubeObject[];
  /** Wall-clock milliseconds (ages are measured against the API server's timestamps). */
  now: number;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface GaugeDefinition {
  name: string;
  help: string;
  labelNames: readonly string[];
}

const hostLabels = ["host", "pool", "datacenter", "driver"] as const;
const scopes = ["pool", "datacenter"] as const;

/** Every gauge this file fills, in one place (fleet.ts registers them; the ADR lists them). */
export const inventoryGauges: GaugeDefinition[] = [
  { name: "omnivisor_resources", help: "Objects of each omnivisor.io kind by namespace and phase (phase: status.phase, else Ready / NotReady / Unknown from the Ready condition).", labelNames: ["kind", "namespace", "phase"] },
  { name: "omnivisor_host_reachable", help: "1 while the Host's Reachable condition is True (its hypervisor answers the operator), else 0.", labelNames: hostLabels },
  { name: "omnivisor_host_in_maintenance", help: "1 while the Host is in (or entering) maintenance.", labelNames: hostLabels },
  { name: "omnivisor_host_virtual_machines", help: "VirtualMachines placed on the host, by phase.", labelNames: [...hostLabels, "phase"] },
  { name: "omnivisor_host_cpu_allocatable_cores", help: "vCPUs placement may hand out on the host ((capacity - reserved) x overcommit).", labelNames: hostLabels },
  { name: "omnivisor_host_cpu_allocated_cores", help: "vCPUs of the VMs placed on the host.", labelNames: hostLabels },
  { name: "omnivisor_host_memory_allocatable_bytes", help: "Memory placement may hand out on the host.", labelNames: hostLabels },
  { name: "omnivisor_host_memory_allocated_bytes", help: "Memory of the VMs placed on the host.", labelNames: hostLabels },
  ...scopes.flatMap((scope) => {
    const labelNames = scope === "pool" ? ["pool", "datacenter"] : ["datacenter"];
    const of = scope === "pool" ? "the pool's hosts" : "the datacenter's hosts";
    return [
      { name: `omnivisor_${scope}_hosts`, help: `Hosts of ${scope === "pool" ? "the pool" : "the datacenter"}.`, labelNames },
      { name: `omnivisor_${scope}_hosts_ready`, help: `Ready hosts of ${scope === "pool" ? "the pool" : "the datacenter"}.`, labelNames },
      { name: `omnivisor_${scope}_cpu_capacity_cores`, help: `CPUs of ${of}, as their hypervisors report them.`, labelNames },
      { name: `omnivisor_${scope}_cpu_allocatable_cores`, help: `vCPUs placement may hand out on ${of}.`, labelNames },
      { name: `omnivisor_${scope}_cpu_allocated_cores`, help: `vCPUs of the VMs placed on ${of}.`, labelNames },
      { name: `omnivisor_${scope}_memory_capacity_bytes`, help: `Memory of ${of}.`, labelNames },
      { name: `omnivisor_${scope}_memory_allocatable_bytes`, help: `Memory placement may hand out on ${of}.`, labelNames },
      { name: `omnivisor_${scope}_memory_allocated_bytes`, help: `Memory of the VMs placed on ${of}.`, labelNames },
    ];
  }),
  { name: "omnivisor_drs_imbalance", help: "Standard deviation, across the pool's Ready hosts, of each host's allocation (the larger of allocated/allocatable CPU and memory), 0-0.5, for every pool. A DRSPolicy balances its own figure (live demand over allocatable, CPU and memory): omnivisor_drs_policy_imbalance.", labelNames: ["pool", "datacenter"] },
  { name: "omnivisor_virtual_machines_pending_oldest_seconds", help: "How long the namespace's longest-Pending VirtualMachine has been Pending (not placed on any host); 0 when none is.", labelNames: ["namespace"] },
  { name: "omnivisor_virtual_machines_unschedulable", help: "VirtualMachines whose Scheduled condition is False (no host fits, quota, HA reserve), by reason.", labelNames: ["namespace", "reason"] },
  { name: "omnivisor_virtual_machines_crash_looping", help: "VirtualMachines held in CrashLoopBackOff (their guest keeps stopping on its own).", labelNames: ["namespace"] },
  { name: "omnivisor_quota_used", help: "What a namespace uses of a VDCQuota limit (resource: virtual_machines, cpus, memory_bytes, storage_bytes; driver: empty for the namespace's total).", labelNames: ["namespace", "quota", "resource", "driver"] },
  { name: "omnivisor_quota_hard", help: "A VDCQuota's limit (only limits that are set).", labelNames: ["namespace", "quota", "resource", "driver"] },
];

type Out = Map<string, Sample[]>;

function put(out: Out, name: string, labels: Record<string, string>, value: number): void {
  let list = out.get(name);
  if (!list) out.set(name, (list = []));
  list.push({ labels, value });
}

/** Adds to the sample with the same labels (counts by label set). */
function count(out: Out, name: string, labels: Record<string, string>, by = 1): void {
  const key = JSON.stringify(labels);
  const list = out.get(name) ?? [];
  out.set(name, list);
  const found = list.find((s) => JSON.stringify(s.labels) === key);
  if (found) found.value += by;
  else list.push({ labels, value: by });
}

const condition = (o: { status?: unknown }, type: string) =>
  (o.status as { conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] } | undefined)?.conditions?.find((c) => c.type === type);

export function phaseOf(o: KubeObject): string {
  const phase = (o.status as { phase?: unknown } | undefined)?.phase;
  if (typeof phase === "string" && phase) return phase;
  const ready = condition(o, "Ready")?.status;
  return ready === "True" ? "Ready" : ready === "False" ? "NotReady" : "Unknown";
}

export function fleetSamples(fleet: Fleet): Out {
  const out: Out = new Map();
  const kinds: [string, readonly KubeObject[]][] = [
    ["Datacenter", fleet.datacenters], ["HostPool", fleet.pools], ["Host", fleet.hosts], ["VirtualMachine", fleet.vms], ["VApp", fleet.vapps],
    ["VDCQuota", fleet.quotas], ["VMMigration", fleet.migrations], ["HAPolicy", fleet.haPolicies], ["DRSPolicy", fleet.drsPolicies],
  ];
  for (const [kind, objects] of kinds) for (const o of objects) count(out, "omnivisor_resources", { kind, namespace: o.metadata.namespace ?? "", phase: phaseOf(o) });
  hostSamples(out, fleet);
  for (const scope of scopes) scopeSamples(out, fleet, scope);
  vmSamples(out, fleet);
  quotaSamples(out, fleet.quotas);
  return out;
}

const bytes = (q: string | number | undefined): number => {
  const b = quantityBytes(q);
  return b === undefined || Number.isNaN(b) ? 0 : b;
};

function labelsOf(h: HostObject): Record<string, string> {
  return { host: h.metadata.name, pool: h.spec.pool ?? "", datacenter: h.spec.datacenter, driver: h.spec.driver };
}

function hostSamples(out: Out, fleet: Fleet): void {
  const byName = new Map(fleet.hosts.map((h) => [h.metadata.name, h]));
  for (const h of fleet.hosts) {
    const labels = labelsOf(h);
    put(out, "omnivisor_host_reachable", labels, condition(h, "Reachable")?.status === "True" ? 1 : 0);
    put(out, "omnivisor_host_in_maintenance", labels, h.spec.maintenance ? 1 : 0);
    put(out, "omnivisor_host_cpu_allocatable_cores", labels, h.status?.allocatable?.cpus ?? 0);
    put(out, "omnivisor_host_cpu_allocated_cores", labels, h.status?.allocated?.cpus ?? 0);
    put(out, "omnivisor_host_memory_allocatable_bytes", labels, bytes(h.status?.allocatable?.memory));
    put(out, "omnivisor_host_memory_allocated_bytes", labels, bytes(h.status?.allocated?.memory));
  }
  for (const vm of fleet.vms) {
    const host = vm.status?.host ? byName.get(vm.status.host) : undefined;
    if (host) count(out, "omnivisor_host_virtual_machines", { ...labelsOf(host), phase: phaseOf(vm) });
  }
}

/** A host's allocation: the larger of its CPU and memory allocated/allocatable (0 when it has none to give). */
function allocation(h: HostObject): number {
  const cpu = (h.status?.allocated?.cpus ?? 0) / Math.max(h.status?.allocatable?.cpus ?? 0, 1e-9);
  const memory = bytes(h.status?.allocated?.memory) / Math.max(bytes(h.status?.allocatable?.memory), 1e-9);
  return Math.min(1, Math.max(cpu, memory));
}

function stddev(values: number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

function scopeSamples(out: Out, fleet: Fleet, scope: (typeof scopes)[number]): void {
  const groups: [Record<string, string>, HostObject[]][] =
    scope === "pool"
      ? fleet.pools.map((p) => [{ pool: p.metadata.name, datacenter: p.spec.datacenter }, poolMembers(p, fleet.hosts)])
      : fleet.datacenters.map((d) => [{ datacenter: d.metadata.name }, fleet.hosts.filter((h) => h.spec.datacenter === d.metadata.name)]);
  for (const [labels, hosts] of groups) {
    const sum = (f: (h: HostObject) => number): number => hosts.reduce((a, h) => a + f(h), 0);
    const ready = hosts.filter((h) => condition(h, "Ready")?.status === "True");
    put(out, `omnivisor_${scope}_hosts`, labels, hosts.length);
    put(out, `omnivisor_${scope}_hosts_ready`, labels, ready.length);
    put(out, `omnivisor_${scope}_cpu_capacity_cores`, labels, sum((h) => h.status?.capacity?.cpus ?? 0));
    put(out, `omnivisor_${scope}_cpu_allocatable_cores`, labels, sum((h) => h.status?.allocatable?.cpus ?? 0));
    put(out, `omnivisor_${scope}_cpu_allocated_cores`, labels, sum((h) => h.status?.allocated?.cpus ?? 0));
    put(out, `omnivisor_${scope}_memory_capacity_bytes`, labels, sum((h) => bytes(h.status?.capacity?.memory)));
    put(out, `omnivisor_${scope}_memory_allocatable_bytes`, labels, sum((h) => bytes(h.status?.allocatable?.memory)));
    put(out, `omnivisor_${scope}_memory_allocated_bytes`, labels, sum((h) => bytes(h.status?.allocated?.memory)));
    if (scope === "pool") put(out, "omnivisor_drs_imbalance", labels, stddev(ready.map(allocation)));
  }
}

function vmSamples(out: Out, fleet: Fleet): void {
  const namespaces = new Set(fleet.vms.map((vm) => vm.metadata.namespace ?? ""));
  for (const namespace of namespaces) {
    put(out, "omnivisor_virtual_machines_pending_oldest_seconds", { namespace }, 0);
    put(out, "omnivisor_virtual_machines_crash_looping", { namespace }, 0);
  }
  const pending = out.get("omnivisor_virtual_machines_pending_oldest_seconds")!;
  const looping = out.get("omnivisor_virtual_machines_crash_looping")!;
  for (const vm of fleet.vms) {
    const namespace = vm.metadata.namespace ?? "";
    const scheduled = condition(vm, "Scheduled");
    if (scheduled?.status === "False") count(out, "omnivisor_virtual_machines_unschedulable", { namespace, reason: scheduled.reason ?? "" });
    if (condition(vm, "Ready")?.reason === "CrashLoopBackOff") looping.find((s) => s.labels.namespace === namespace)!.value += 1;
    if (phaseOf(vm) !== "Pending") continue;
    // Pending since it was created, or since it lost its place (Scheduled turned False)
    const since = Math.max(Date.parse(vm.metadata.creationTimestamp ?? "") || fleet.now, scheduled?.status === "False" ? Date.parse(scheduled.lastTransitionTime ?? "") || 0 : 0);
    const entry = pending.find((s) => s.labels.namespace === namespace)!;
    entry.value = Math.max(entry.value, Math.max(0, (fleet.now - since) / 1000));
  }
}

const limits = [
  ["virtual_machines", (l: Limits) => l.virtualMachines],
  ["cpus", (l: Limits) => l.cpus],
  ["memory_bytes", (l: Limits) => (l.memory === undefined ? undefined : bytes(l.memory))],
  ["storage_bytes", (l: Limits) => (l.storage === undefined ? undefined : bytes(l.storage))],
] as const;
type Limits = { virtualMachines?: number; cpus?: number; memory?: string | number; storage?: string | number };

function quotaSamples(out: Out, quotas: readonly VdcQuotaObject[]): void {
  for (const q of quotas) {
    const base = { namespace: q.metadata.namespace ?? "", quota: q.metadata.name };
    const scopes: [string, Limits, Limits | undefined][] = [
      ["", q.spec.hard, q.status?.used],
      ...(q.spec.perDriver ?? []).map((d): [string, Limits, Limits | undefined] => [d.driver, d.hard, q.status?.usedPerDriver?.find((u) => u.driver === d.driver)?.used]),
    ];
    for (const [driver, hard, used] of scopes) {
      for (const [resource, read] of limits) {
        const limit = read(hard);
        if (limit === undefined) continue;
        const labels = { ...base, resource, driver };
        put(out, "omnivisor_quota_hard", labels, limit);
        put(out, "omnivisor_quota_used", labels, used ? (read(used) ?? 0) : 0);
      }
    }
  }
}

