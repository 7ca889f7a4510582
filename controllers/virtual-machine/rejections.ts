// Hosts that refused to create a VM for lack of capacity (their own count, which placement's
// figures did not foresee: overcommit, memory used outside Omnivisor), per VM and for a while.
// Placement leaves them out meanwhile, so the VM goes elsewhere instead of back to the same host
// at once, again and again.
export const rejectionTtlMs = 5 * 60_000;

export class Rejections {
  private readonly byVm = new Map<string, Map<string, { until: number; why: string }>>();
  private readonly ttlMs: number;

  constructor(ttlMs = rejectionTtlMs) {
    this.ttlMs = ttlMs;
  }

  add(key: string, host: string, why: string, now = Date.now()): void {
    const hosts = this.byVm.get(key) ?? new Map<string, { until: number; why: string }>();
    hosts.set(host, { until: now + this.ttlMs, why });
    this.byVm.set(key, hosts);
  }

  /** host → why, for the refusals of this VM still in force. */
  of(key: string, now = Date.now()): Map<string, string> {
    const hosts = this.byVm.get(key);
    const out = new Map<string, string>();
    if (!hosts) return out;
    for (const [host, { until, why }] of hosts) {
      if (until > now) out.set(host, why);
      else hosts.delete(host);
    }
    if (hosts.size === 0) this.byVm.delete(key);
    return out;
  }

  forget(key: string): void {
    this.byVm.delete(key);
  }
}
