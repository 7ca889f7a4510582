// Per-driver quota limits at placement, for VMs whose spec names no driver (admission cannot know
// where they will run): a host of driver D is a candidate only while the namespace's quotas leave
// room on D. Counted from the VM cache — VMs that name D, or were placed (or are being placed by
// this process: reservations) on a host of D — plus admission charges on D for objects the cache
// does not show yet. Costs a walk of the cache's VMs only where a quota limits that driver.
import type { DriverName } from "../api/index.ts";
import type { Informer } from "../runtime/informer.ts";
import type { VdcQuotaObject, VmObject } from "./kinds.ts";
import { fromLimits, machineUsage, overLimit, plus, zero, type Usage } from "./quota.ts";

export interface QuotaRoomSources {
  quotas: Informer<VdcQuotaObject>;
  vms: Informer<VmObject>;
  /** The driver of a host, by name. */
  hostDriver(host: string): DriverName | undefined;
  /** The host this process reserved for a VM the cache does not show placed yet. */
  reservedHost(key: string): string | undefined;
}

/** Why `vm` may not go to a host of `driver` (the quota named, what and how much), or undefined. */
export function perDriverRefusal(sources: QuotaRoomSources, vm: VmObject, driver: DriverName): string | undefined {
  const namespace = vm.metadata.namespace;
  const limited = sources.quotas.list().filter((q) => q.metadata.namespace === namespace && q.spec.perDriver?.some((p) => p.driver === driver));
  if (limited.length === 0) return undefined;
  const used = usedOn(sources, vm, driver);
  for (const quota of limited) {
    const limit = quota.spec.perDriver!.find((p) => p.driver === driver)!;
    const pending = (quota.status?.charges ?? [])
      .filter((c) => !seen(sources, namespace, c.uid))
      .map((c) => fromLimits(c.usedPerDriver?.find((d) => d.driver === driver)?.used))
      .reduce(plus, zero());
    const over = overLimit(plus(plus(used, pending), machineUsage(vm.spec)), limit.hard);
    if (over) return `namespace ${namespace} ${over} on ${driver} (VDCQuota ${quota.metadata.name})`;
  }
  return undefined;
}

function usedOn(sources: QuotaRoomSources, self: VmObject, driver: DriverName): Usage {
  let used = zero();
  for (const vm of sources.vms.list()) {
    if (vm.metadata.namespace !== self.metadata.namespace || vm.metadata.uid === self.metadata.uid) continue;
    const key = `${vm.metadata.namespace}/${vm.metadata.name}`;
    const host = vm.status?.host ?? sources.reservedHost(key);
    const on = vm.spec.placement?.driver ?? vm.status?.driver ?? (host ? sources.hostDriver(host) : undefined);
    if (on === driver) used = plus(used, machineUsage(vm.spec));
  }
  return used;
}

function seen(sources: QuotaRoomSources, namespace: string | undefined, uid: string): boolean {
  return sources.vms.list().some((vm) => vm.metadata.namespace === namespace && vm.metadata.uid === uid);
}
