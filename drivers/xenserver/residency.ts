// Which host of a pool a VM is on. XAPI shows the whole pool through any session, but an Omnivisor
// Host is one member of it: its session reports and acts on the VMs of its own host only, so a VM
// that moved (VM.pool_migrate) is gone from its old Host and found on its new one, and each VM is
// counted by one Host. The rule (ADR 0021):
// - running or paused: the host it is resident_on (XAPI sets it while the domain exists);
// - halted or suspended (resident_on is NULL then): the host its affinity names — the hint VM.start
//   follows, which this driver sets whenever it starts, stops or moves a VM;
// - no affinity (or one naming a host no longer in the pool): the pool master, so that a VM made by
//   someone else is still reported by exactly one Host.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { RetryableError, TerminalError } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";
import type { HostRecord } from "./host.ts";
import { nullRef, type VmRecord } from "./records.ts";

/** The pool as far as residency needs it. */
export interface PoolHosts {
  master: string;
  hosts: ReadonlySet<string>;
}

/** The host of the pool that holds the VM (see the rule above). */
export function holderOf(vm: Pick<VmRecord, "power_state" | "resident_on" | "affinity">, pool: PoolHosts): string {
  const running = vm.power_state === "Running" || vm.power_state === "Paused";
  if (running && vm.resident_on !== undefined && vm.resident_on !== nullRef) return vm.resident_on;
  const affinity = vm.affinity ?? nullRef;
  return affinity !== nullRef && pool.hosts.has(affinity) ? affinity : pool.master;
}

/**
 * The host of the pool an endpoint's host names: by address, by host name (also a fully qualified
 * endpoint name whose first label is the host name, or the reverse), then by the addresses the name
 * resolves to. Undefined when none matches.
 */
export async function hostNamed(hosts: Record<string, HostRecord>, endpointHost: string): Promise<[string, HostRecord] | undefined> {
  const entries = Object.entries(hosts);
  const wanted = endpointHost.replace(/^\[|\]$/g, "").toLowerCase();
  const short = (name: string): string => name.toLowerCase().split(".")[0] ?? "";
  const byName =
    entries.find(([, h]) => h.address.toLowerCase() === wanted) ??
    entries.find(([, h]) => h.hostname.toLowerCase() === wanted) ??
    (isIP(wanted) === 0 ? entries.find(([, h]) => h.hostname !== "" && (!h.hostname.includes(".") || !wanted.includes(".")) && short(h.hostname) === short(wanted)) : undefined);
  if (byName !== undefined || isIP(wanted) !== 0) return byName;
  const addresses = await lookup(wanted, { all: true }).then((found) => found.map((a) => a.address), () => [] as string[]);
  return entries.find(([, h]) => addresses.includes(h.address));
}

/** How long the pool's host list and master are believed before they are read again. */
const poolTtlMs = 30_000;
/** An affinity naming a host not in the list reads the list again, at most this often. */
const unknownHostRefreshMs = 5_000;

/**
 * This session's host of the pool, and the pool's hosts and master, read at connect and again
 * every 30 s (a host joins, HA elects a new master) or when a VM names a host not yet known.
 */
export class PoolView {
  readonly self: string;
  readonly selfRecord: HostRecord;
  private readonly client: XapiClient;
  private pool: PoolHosts;
  private readAt: number;

  private constructor(client: XapiClient, self: [string, HostRecord], pool: PoolHosts) {
    this.client = client;
    [this.self, this.selfRecord] = self;
    this.pool = pool;
    this.readAt = Date.now();
  }

  /**
   * Finds the host the endpoint names. A pool of one host: that host, whatever the endpoint says.
   * Otherwise an endpoint naming none of the pool's hosts is terminal: which VMs are this Host's
   * cannot be told, and the whole pool must not be reported as one host.
   */
  static async open(client: XapiClient, endpointHost: string): Promise<PoolView> {
    const [hosts, master] = await readPool(client);
    const entries = Object.entries(hosts);
    if (entries.length === 0) throw new RetryableError("xenserver: the pool reports no host", { reason: "no-host" });
    const self = entries.length === 1 ? entries[0]! : await hostNamed(hosts, endpointHost);
    if (self === undefined) {
      const known = entries.map(([, h]) => `${h.hostname} (${h.address})`).join(", ");
      throw new TerminalError(`xenserver: the endpoint's host ${endpointHost} is none of the pool's hosts — ${known}; name one of them (address or host name) in the Host's endpoint`, { reason: "host-not-in-pool" });
    }
    return new PoolView(client, self, { master, hosts: new Set(Object.keys(hosts)) });
  }

  /** The pool's hosts and master; read again when older than 30 s, or when `ref` (an affinity) is not among the hosts. */
  async hosts(ref?: string): Promise<PoolHosts> {
    const age = Date.now() - this.readAt;
    const unknown = ref !== undefined && ref !== nullRef && !this.pool.hosts.has(ref);
    if (age > poolTtlMs || (unknown && age > unknownHostRefreshMs)) {
      const [hosts, master] = await readPool(this.client);
      this.pool = { master, hosts: new Set(Object.keys(hosts)) };
      this.readAt = Date.now();
    }
    return this.pool;
  }

  /** Whether the VM is on this session's host. */
  async holds(vm: VmRecord): Promise<boolean> {
    return holderOf(vm, await this.hosts(vm.affinity)) === this.self;
  }
}

async function readPool(client: XapiClient): Promise<[Record<string, HostRecord>, string]> {
  const [hosts, pools] = await Promise.all([
    client.call<Record<string, HostRecord>>("list hosts", "host.get_all_records"),
    client.call<Record<string, { master: string }>>("read pool", "pool.get_all_records"),
  ]);
  return [hosts, Object.values(pools)[0]?.master ?? nullRef];
}
