// A host's heartbeat Lease, as the status watcher renews it (src/agent/heartbeat-renewer.ts) and
// the controllers read it. Whether a status watcher follows a host: its heartbeat Lease was renewed
// within the lease's duration. While one does, changes on the host reach VM status within a second
// and re-queue the VM, so the controller's own observation of converged VMs can be rare; without
// one, the controller polls often. (10,000 VMs polled every 15 s are ~670 driver observations a
// second; every 5 minutes, ~33.)
import type { ObjectMeta, ResourceType } from "../runtime/resource.ts";

/** The heartbeat Lease of a host (in the operator's namespace). */
export function heartbeatLeaseName(host: string): string {
  return `omnivisor-host-${host}`.slice(0, 253);
}

export const leasesType: ResourceType = { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true };

export interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

/** True while the lease's holder renewed it within its duration. */
export function heartbeatFresh(lease: LeaseObject | undefined, nowMs: number): boolean {
  const renewed = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : NaN;
  const durationMs = (lease?.spec?.leaseDurationSeconds ?? 0) * 1000;
  return Number.isFinite(renewed) && durationMs > 0 && nowMs - renewed <= durationMs;
}

/** The cache key of a host's heartbeat Lease in the given namespace. */
export function heartbeatKey(namespace: string, host: string): string {
  return `${namespace}/${heartbeatLeaseName(host)}`;
}
