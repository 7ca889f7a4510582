// observeVmUsage for libvirt: one CONNECT_GET_ALL_DOMAIN_STATS call for every running and paused
// domain (groups cpu-total and balloon). CPUs busy from cpu.time's growth since the previous call;
// memory in use from balloon.rss (what QEMU holds on the host), else balloon.current − unused (the
// guest's balloon driver), else balloon.current. Identities come from the session's cache (filled
// by listVms and events); a domain not in it is read once, and an unmanaged one re-read only after
// unmanagedRecheckMs (it may be adopted).
import { UnsupportedError, type VmIdentity, type VmUsageSample } from "../contract/index.ts";
import { CpuRates } from "../usage/cpu-rate.ts";
import { uuidToString, type DomainRef } from "./rpc/protocol.ts";
import { DomainStats, DomainStatsFlags } from "./rpc/procedures.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";
import type { TypedValue } from "./rpc/typed-params.ts";

const unmanagedRecheckMs = 60_000;

export interface IdentitySource {
  resolve(remote: LibvirtRemote, dom: DomainRef): Promise<VmIdentity | undefined>;
  get(externalId: string): VmIdentity | undefined;
}

function bigintOf(v: TypedValue | undefined): bigint | undefined {
  return typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : undefined;
}

/** Memory in use (KiB) from a domain's balloon fields; undefined when the host reports none. */
export function memoryKiB(fields: ReadonlyMap<string, TypedValue>): bigint | undefined {
  const rss = bigintOf(fields.get("balloon.rss"));
  if (rss !== undefined && rss > 0n) return rss;
  const current = bigintOf(fields.get("balloon.current"));
  const unused = bigintOf(fields.get("balloon.unused"));
  if (current !== undefined && unused !== undefined && current > unused) return current - unused;
  return current;
}

export class LibvirtVmUsage {
  private readonly rates = new CpuRates();
  /** Domains without identity, by UUID: when that was last read. */
  private readonly unmanaged = new Map<string, number>();

  async observe(remote: LibvirtRemote, identities: IdentitySource): Promise<VmUsageSample[]> {
    const records = await remote.getAllDomainStats(DomainStats.CpuTotal | DomainStats.Balloon, DomainStatsFlags.Running | DomainStatsFlags.Paused);
    const at = process.hrtime.bigint();
    if (records.length > 0 && records.every((r) => r.fields.size === 0)) {
      throw new UnsupportedError("libvirt: this host reports no per-domain CPU or balloon stats (libvirt's test driver has none)");
    }
    const now = Date.now();
    const samples: VmUsageSample[] = [];
    const seen = new Set<string>();
    for (const { dom, fields } of records) {
      const uuid = uuidToString(dom.uuid);
      const identity = await this.identity(remote, identities, dom, uuid, now);
      const kib = memoryKiB(fields);
      if (!identity || kib === undefined) continue;
      seen.add(uuid);
      const time = bigintOf(fields.get("cpu.time"));
      const sample: VmUsageSample = { uid: identity.uid, memoryMiB: Math.round(Number(kib) / 1024) };
      const cpus = time === undefined ? undefined : this.rates.rate(uuid, time, at);
      if (cpus !== undefined) sample.cpus = Math.round(cpus * 1000) / 1000;
      samples.push(sample);
    }
    this.rates.keepOnly(seen);
    for (const [uuid, readAt] of this.unmanaged) if (now - readAt > unmanagedRecheckMs) this.unmanaged.delete(uuid);
    return samples;
  }

  private async identity(remote: LibvirtRemote, identities: IdentitySource, dom: DomainRef, uuid: string, now: number): Promise<VmIdentity | undefined> {
    const cached = identities.get(uuid);
    if (cached) return cached;
    if (this.unmanaged.has(uuid)) return undefined;
    const identity = await identities.resolve(remote, dom);
    if (!identity) this.unmanaged.set(uuid, now);
    return identity;
  }
}
