// Who may adopt what (spec.adopt): a VM already on a host is handed to a tenant only when the Host
// lists the VM's namespace (spec.adoption.namespaces) and the host is within the VM's own placement
// scope; and a VM carrying some uid is taken only when no VirtualMachine has that uid (an orphan).
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";

/** Why this VM may not adopt on this host (undefined: it may). */
export function adoptionRefused(vm: VmObject, host: HostObject | undefined): string | undefined {
  const adopt = vm.spec.adopt;
  if (!adopt) return undefined;
  if (!host) return `host ${adopt.host} does not exist`;
  const ns = vm.metadata.namespace ?? "";
  if (!(host.spec.adoption?.namespaces ?? []).includes(ns)) {
    return `host ${adopt.host} does not allow namespace ${ns} to adopt its VMs (the platform admin lists it in the Host's spec.adoption.namespaces)`;
  }
  const scope = vm.spec.placement;
  if (scope?.datacenter && scope.datacenter !== host.spec.datacenter) return `host ${adopt.host} is in datacenter ${host.spec.datacenter}, outside spec.placement.datacenter ${scope.datacenter}`;
  if (scope?.pool && scope.pool !== host.spec.pool) return `host ${adopt.host} is in pool ${host.spec.pool ?? "(none)"}, outside spec.placement.pool ${scope.pool}`;
  if (scope?.hosts && !scope.hosts.includes(adopt.host)) return `host ${adopt.host} is not in spec.placement.hosts`;
  if (scope?.driver && scope.driver !== host.spec.driver) return `host ${adopt.host} runs ${host.spec.driver}, not spec.placement.driver ${scope.driver}`;
  return undefined;
}

/**
 * The orphan's uid the VM named by spec.adopt carries, as its Host reports it, when no
 * VirtualMachine has that uid; undefined otherwise (the driver then takes only a VM with no uid).
 */
export function orphanUid(vm: VmObject, host: HostObject | undefined, uidExists: (uid: string) => boolean): string | undefined {
  const adopt = vm.spec.adopt;
  if (!adopt) return undefined;
  const uid = host?.status?.orphanedVms?.find((o) => o.externalId === adopt.externalId)?.uid;
  return uid !== undefined && uid !== vm.metadata.uid && !uidExists(uid) ? uid : undefined;
}
