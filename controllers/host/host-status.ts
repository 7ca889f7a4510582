// A Host's status from what its hypervisor reports and the VMs placed on it. Pure: the controller
// observes, this computes. Figures are rounded (whole Mi, whole percent) and usage keeps its old
// sample time while the figures are the same, so an idle host causes no status writes.
import type { HostObservation, VmObservation } from "../../drivers/contract/index.ts";
import type { HostStatus } from "../../src/api/index.ts";
import { formatMiB, toGiB, toMiB } from "../../src/api/quantity.ts";
import { resourcesOf, sumDemand, type HostFigures } from "../../src/fleet/demand.ts";
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";

/** What placement may hand out: (capacity - reserved) x overcommit. */
export function allocatableOf(host: HostObject, capacity: HostFigures): HostFigures {
  const reserved = host.spec.reserved;
  const cpus = Math.max(0, capacity.cpus - (reserved?.cpus ?? 0)) * (host.spec.cpuOvercommit ?? 1);
  const memoryMiB = Math.max(0, capacity.memoryMiB - toMiB(reserved?.memory)) * (host.spec.memoryOvercommit ?? 1);
  const out: HostFigures = { cpus: Math.floor(cpus), memoryMiB: Math.floor(memoryMiB) };
  if (capacity.storageGiB !== undefined) out.storageGiB = Math.max(0, capacity.storageGiB - toGiB(reserved?.storage));
  return out;
}

const maxUnmanaged = 1000;

/**
 * Live usage is rewritten only when it moved enough to matter (5 points of CPU, 5% of memory) or
 * the sample is five minutes old: an idle fleet then makes almost no status writes.
 */
export function usageMoved(previous: HostStatus["usage"], next: { cpuPercent: number; memoryMiB: number }, now: Date): boolean {
  if (!previous?.sampledAt || previous.cpuPercent === undefined) return true;
  if (now.getTime() - Date.parse(previous.sampledAt) >= 5 * 60_000) return true;
  const before = toMiB(previous.memory);
  return Math.abs(next.cpuPercent - previous.cpuPercent) >= 5 || Math.abs(next.memoryMiB - before) > 0.05 * Math.max(before, 1);
}

/** Fills the observed parts of a Host's status in place (conditions are the controller's). */
export function observedHostStatus(
  status: HostStatus,
  host: HostObject,
  observed: {
    host: HostObservation;
    vms: readonly VmObservation[];
    placed: readonly VmObject[];
    /** Whether a VirtualMachine with this uid exists: a VM carrying a uid nobody has is an orphan. */
    exists: (uid: string) => boolean;
  },
  now: () => Date = () => new Date(),
): void {
  const capacity = observed.host.capacity;
  status.hypervisor = { type: observed.host.hypervisor, version: observed.host.version };
  status.capacity = resourcesOf(capacity);
  status.allocatable = resourcesOf(allocatableOf(host, capacity));
  status.allocated = resourcesOf(sumDemand(observed.placed));
  const usage = observed.host.usage;
  if (usage) {
    const cpuPercent = Math.min(100, Math.max(0, Math.round(usage.cpuPercent)));
    const memory = formatMiB(usage.memoryUsedMiB);
    if (usageMoved(status.usage, { cpuPercent, memoryMiB: usage.memoryUsedMiB }, now())) {
      status.usage = { cpuPercent, memory, sampledAt: now().toISOString().replace(/\.\d{3}Z$/, "Z") };
    }
  } else {
    delete status.usage;
  }
  // A VM adopted by a VirtualMachine (spec.adopt) has no uid (or an orphan's old one) in its metadata until the
  // driver writes it (Docker never can), so "unmanaged" and "orphaned" also leave out the external ids VirtualMachines claim.
  const claimed = new Set(observed.placed.map((vm) => vm.status?.externalId ?? vm.spec.adopt?.externalId).filter(Boolean));
  const orphaned = observed.vms.filter((v) => v.managed && v.identity && !observed.exists(v.identity.uid) && !claimed.has(v.externalId));
  const managed = observed.vms.filter((v) => v.managed && !orphaned.includes(v));
  status.virtualMachines = {
    total: observed.vms.length,
    running: observed.vms.filter((v) => v.power === "Running").length,
    managed: managed.length,
    ...(orphaned.length > 0 ? { orphaned: orphaned.length } : {}),
  };
  const orphans = orphaned
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, maxUnmanaged)
    .map((v) => ({
      externalId: v.externalId,
      name: v.name,
      ...(v.identity?.namespace ? { namespace: v.identity.namespace } : {}),
      ...(v.identity?.kubeName ? { virtualMachine: v.identity.kubeName } : {}),
      powerState: v.power === "Crashed" ? ("Stopped" as const) : v.power,
    }));
  if (orphans.length > 0) status.orphanedVms = orphans;
  else delete status.orphanedVms;
  const unmanaged = observed.vms
    .filter((v) => !v.managed && !claimed.has(v.externalId))
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, maxUnmanaged)
    .map((v) => ({
      externalId: v.externalId,
      name: v.name,
      powerState: v.power === "Crashed" ? ("Stopped" as const) : v.power,
      cpus: Math.round(v.cpus),
      memory: formatMiB(v.memoryMiB),
    }));
  if (unmanaged.length > 0) status.unmanagedVms = unmanaged;
  else delete status.unmanagedVms;
}
