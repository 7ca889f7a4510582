// What the HAPolicy, VirtualMachine and Host controllers share about a host's failover. The
// HAPolicy controller alone decides that a host failed and records it in its status
// (failoversInProgress, with fencedAt once the fence is confirmed); it asks the VirtualMachine
// controller — the only writer of a VM's status.host — to place a VM again by annotating it
// omnivisor.io/ha-restart-from=<failed host>. The VM controller honours that request only while
// the VM's status.host is that host AND a policy's record says the host is fenced (it checks the
// fence itself: an annotation alone never moves a VM). ADR 0026.
import type { restartPriorities } from "../api/ha-policy.ts";
import type { HAPolicy } from "../api/index.ts";
import { hostAnnotations } from "./connection.ts";
import type { HostObject, VmObject } from "./kinds.ts";
import type { ObjectMeta, ResourceType } from "../runtime/resource.ts";
import { group, version } from "../api/index.ts";

export const haPoliciesType: ResourceType = { group, version, plural: "hapolicies", kind: "HAPolicy", namespaced: false };

export type HAPolicyObject = { apiVersion?: string; kind?: string; metadata: ObjectMeta; spec: HAPolicy["spec"]; status?: HAPolicy["status"] };
export type Failover = NonNullable<NonNullable<HAPolicyObject["status"]>["failoversInProgress"]>[number];
export type RestartPriority = (typeof restartPriorities)[number];

/** Written by the HAPolicy controller on a VM of a fenced host: "place this VM again, not on <host>". */
export const haRestartAnnotation = "omnivisor.io/ha-restart-from";

/** The failover record of a host in any policy, if one is in progress (or completed and the host not back). */
export function failoverOf(policies: readonly HAPolicyObject[], host: string): { policy: HAPolicyObject; failover: Failover } | undefined {
  for (const policy of policies) {
    const failover = policy.status?.failoversInProgress?.find((f) => f.host === host);
    if (failover) return { policy, failover };
  }
  return undefined;
}

/**
 * Whether the VMs of a failed host may be placed elsewhere: its fence was confirmed (fencedAt), or
 * the policy does not require fencing (fencingRequired: false — the user's choice to risk it).
 */
export function restartAllowed(policy: HAPolicyObject, failover: Failover | undefined): boolean {
  if (!failover || failover.phase === "Suspect" || failover.phase === "Fencing") return false;
  if (failover.fencedAt !== undefined) return true;
  return policy.spec.fencingRequired === false && failover.phase !== "Blocked";
}

/** The VM's restart priority: its own, else the policy's default. */
export function restartPriorityOf(vm: VmObject, policy: Pick<HAPolicy["spec"], "defaultRestartPriority">): RestartPriority {
  return vm.spec.haRestartPriority ?? policy.defaultRestartPriority ?? "Medium";
}

/**
 * Why a VM of this host cannot run anywhere else (its disks are on storage only the host had),
 * undefined when it can. A libvirt VM with disks can restart only where the same shared storage
 * is (libvirt.omnivisor.io/shared-storage names it); containers and diskless VMs can anywhere.
 */
export function notRestartable(vm: VmObject, host: HostObject | undefined): string | undefined {
  if (!host || host.spec.driver !== "libvirt" || (vm.spec.disks ?? []).length === 0) return undefined;
  if (host.metadata.annotations?.[hostAnnotations.sharedStorage]) return undefined;
  return `its disks are on host ${host.metadata.name}'s own storage (the host names no ${hostAnnotations.sharedStorage}): it cannot start anywhere else`;
}

/** Hosts that may take a restarted VM of `failed`: same shared storage where the VM's disks need it. */
export function restartTargetAllowed(vm: VmObject, failed: HostObject | undefined, candidate: HostObject): boolean {
  if (candidate.metadata.name === failed?.metadata.name) return false;
  if (!failed || failed.spec.driver !== "libvirt" || (vm.spec.disks ?? []).length === 0) return true;
  const shared = failed.metadata.annotations?.[hostAnnotations.sharedStorage];
  return shared !== undefined && candidate.metadata.annotations?.[hostAnnotations.sharedStorage] === shared;
}
