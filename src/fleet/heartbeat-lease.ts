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

/**
 * When each host's heartbeat Lease last changed, as THIS process saw it, on its own monotonic
 * clock. A lease is judged by seeing its renewTime change over time, never by comparing its
 * renewTime (the watcher's wall clock) with ours: two machines' clocks may differ by more than a
 * lease lasts, and a wall clock can jump. A host first seen (or a process just started) counts as
 * renewed now: it gets one full allowance before it can be suspected.
 */
export class HeartbeatClock {
  private readonly seen = new Map<string, { mark: string; at: number; durationMs: number }>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /** Feed every version of the Lease the cache shows (added / updated). */
  observe(host: string, lease: LeaseObject): void {
    const mark = `${lease.spec?.holderIdentity ?? ""}|${lease.spec?.renewTime ?? ""}`;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    const was = this.seen.get(host);
    if (was?.mark === mark) return;
    this.seen.set(host, { mark, at: this.now(), durationMs });
  }

  /** Milliseconds since the host's lease last changed (0 the first time the host is asked about). */
  silentForMs(host: string): number {
    const entry = this.seen.get(host);
    if (!entry) {
      this.seen.set(host, { mark: "", at: this.now(), durationMs: 0 });
      return 0;
    }
    return this.now() - entry.at;
  }

  /** When (this clock) the lease last changed; undefined before the host was seen. */
  changedAt(host: string): number | undefined {
    return this.seen.get(host)?.at;
  }

  /** The renewal interval the watcher announces (a third of the lease's duration), 0 if unknown. */
  intervalMs(host: string): number {
    return (this.seen.get(host)?.durationMs ?? 0) / 3;
  }

  /** True while the lease changed within its own duration (a status watcher follows the host). */
  fresh(host: string): boolean {
    const entry = this.seen.get(host);
    return entry !== undefined && entry.durationMs > 0 && this.now() - entry.at <= entry.durationMs;
  }

  forget(host: string): void {
    this.seen.delete(host);
  }
}

/** The host a heartbeat Lease belongs to (its label), undefined for other Leases. */
export function leaseHost(lease: LeaseObject): string | undefined {
  return lease.metadata.labels?.["omnivisor.io/host"];
}

/** Feeds a Lease cache's changes into the clock. */
export function followHeartbeats(leases: { on(handlers: { added?: (l: LeaseObject) => void; updated?: (old: LeaseObject, l: LeaseObject) => void }): void }, clock: HeartbeatClock): void {
  const seen = (lease: LeaseObject): void => {
    const host = leaseHost(lease);
    if (host) clock.observe(host, lease);
  };
  leases.on({ added: seen, updated: (_old, lease) => seen(lease) });
}

/** The cache key of a host's heartbeat Lease in the given namespace. */
export function heartbeatKey(namespace: string, host: string): string {
  return `${namespace}/${heartbeatLeaseName(host)}`;
}
