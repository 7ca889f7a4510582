// A Host's status from what its hypervisor reports and the VMs placed on it. Pure: the controller
// observes, this computes. Only what changes when the world changes is here (capacity, allocation,
// VMs); live usage goes to metrics (ADR 0037), so an idle host causes no status writes.
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
): void {
  const capacity = observed.host.capacity;
  status.hypervisor = { type: observed.host.hypervisor, version: observed.host.version };
  status.capacity = resourcesOf(capacity);
  status.allocatable = resourcesOf(allocatableOf(host, capacity));
  status.allocated = resourcesOf(sumDemand(observed.placed));
  // live usage is not status (it moves all the time): metrics and src/fleet/live-usage.ts (ADR
  // 0037). An older version's status.usage goes with the next write.
  delete (status as { usage?: unknown }).usage;
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
      ...(v.identity ? { uid: v.identity.uid } : {}),
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
