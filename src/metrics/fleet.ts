// The fleet's metrics in the manager: a registration like a controller's, but with no work queue.
// Its caches are the manager's shared ones (every replica keeps them warm), and its gauges are
// computed when Prometheus scrapes (inventory.ts), from those caches only: no API call. Only the
// leader exports them (startWorkers runs on the leader only): summed over replicas, nothing is
// counted twice. Also here: heartbeat age per host (the status watchers' Leases) and finished moves.
import { Gauge, type Registry } from "prom-client";
import { type HAPolicyObject, haPoliciesType } from "../fleet/failovers.ts";
import { HeartbeatClock, followHeartbeats, leaseHost, leasesType, type LeaseObject } from "../fleet/heartbeat-lease.ts";
import {
  datacentersType, drsPoliciesType, hostPoolsType, hostsType, vAppsType, vdcQuotasType, virtualMachinesType, vmMigrationsType,
  type DatacenterObject, type HostObject, type HostPoolObject, type VAppObject, type VdcQuotaObject, type VmMigrationObject, type VmObject,
} from "../fleet/kinds.ts";
import type { ControllerDeps } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import type { ControllerRegistration, ManagedController } from "../runtime/registry.ts";
import type { KubeObject } from "../runtime/resource.ts";
import { readOnlyCache } from "../runtime/with-caches.ts";
import { fleetSamples, inventoryGauges, type Fleet, type Sample } from "./inventory.ts";
import { MigrationMetrics } from "./migrations.ts";

export interface FleetMetricsOptions {
  /** Namespace of the status watchers' heartbeat Leases. */
  heartbeatNamespace: string;
}

export function fleetMetrics(options: FleetMetricsOptions): ControllerRegistration {
  return { name: "fleet-metrics", create: (deps) => new FleetMetrics(deps, options) };
}

class FleetMetrics implements ManagedController {
  readonly name = "fleet-metrics";
  private leading = false;
  private readonly caches: {
    hosts: Informer<HostObject>; pools: Informer<HostPoolObject>; datacenters: Informer<DatacenterObject>; vms: Informer<VmObject>; vapps: Informer<VAppObject>;
    quotas: Informer<VdcQuotaObject>; migrations: Informer<VmMigrationObject>; haPolicies: Informer<HAPolicyObject>; drsPolicies: Informer<KubeObject>; leases: Informer<LeaseObject>;
  };
  private readonly clock = new HeartbeatClock();
  private readonly migrations: MigrationMetrics;
  private last: { at: number; samples: Map<string, Sample[]> } | undefined;

  constructor(deps: ControllerDeps, options: FleetMetricsOptions) {
    const d = { ...deps, log: deps.log.with({ controller: this.name }) };
    const ns = deps.namespace;
    this.caches = {
      hosts: readOnlyCache(d, hostsType), pools: readOnlyCache(d, hostPoolsType), datacenters: readOnlyCache(d, datacentersType),
      vms: readOnlyCache(d, virtualMachinesType, ns), vapps: readOnlyCache(d, vAppsType, ns), quotas: readOnlyCache(d, vdcQuotasType, ns),
      migrations: readOnlyCache(d, vmMigrationsType, ns), haPolicies: readOnlyCache(d, haPoliciesType), drsPolicies: readOnlyCache(d, drsPoliciesType),
      leases: readOnlyCache(d, leasesType, options.heartbeatNamespace),
    };
    followHeartbeats(this.caches.leases, this.clock);
    const registry = deps.metrics.registry;
    this.migrations = new MigrationMetrics(registry);
    const world = {
      host: (name: string) => this.caches.hosts.get(name),
      vmHost: (m: VmMigrationObject) => this.caches.vms.get(`${m.metadata.namespace ?? ""}/${m.spec.virtualMachine}`)?.status?.host,
    };
    this.caches.migrations.on({ updated: (before, after) => this.leading && this.migrations.changed(before, after, world) });
    // at 0 as soon as a driver has hosts, so the first move is an increase Prometheus can see
    this.caches.hosts.on({ added: (h) => this.migrations.zero(h.spec.driver), updated: (_old, h) => this.migrations.zero(h.spec.driver) });
    for (const def of inventoryGauges) this.gauge(registry, def.name, def.help, def.labelNames, () => this.samples().get(def.name) ?? []);
    this.gauge(registry, "omnivisor_host_heartbeat_age_seconds", "Seconds since the host's heartbeat Lease (renewed by the status watcher that follows it) last changed, as this manager saw it.", ["host"], () => this.heartbeats("age"));
    this.gauge(registry, "omnivisor_host_heartbeat_lease_seconds", "The heartbeat Lease's duration: older than this, no status watcher follows the host.", ["host"], () => this.heartbeats("lease"));
  }

  private gauge(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Sample[]): void {
    new Gauge({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const s of read()) this.set(s.labels, s.value);
      },
    });
  }

  /** One computation per scrape (every gauge of a scrape reads the same figures). */
  private samples(): Map<string, Sample[]> {
    if (!this.leading) return new Map();
    const now = Date.now();
    if (this.last && now - this.last.at < 1_000) return this.last.samples;
    const c = this.caches;
    const fleet: Fleet = {
      hosts: c.hosts.list(), pools: c.pools.list(), datacenters: c.datacenters.list(), vms: c.vms.list(), vapps: c.vapps.list(), quotas: c.quotas.list(),
      migrations: c.migrations.list(), haPolicies: c.haPolicies.list(), drsPolicies: c.drsPolicies.list(), now,
    };
    this.last = { at: now, samples: fleetSamples(fleet) };
    return this.last.samples;
  }

  private heartbeats(what: "age" | "lease"): Sample[] {
    if (!this.leading) return [];
    const out: Sample[] = [];
    for (const lease of this.caches.leases.list()) {
      const host = leaseHost(lease);
      if (!host || !this.caches.hosts.get(host)) continue;
      const value = what === "age" ? this.clock.silentForMs(host) / 1000 : lease.spec?.leaseDurationSeconds ?? 0;
      out.push({ labels: { host }, value });
    }
    return out;
  }

  private get all(): Informer<KubeObject>[] {
    return Object.values(this.caches) as Informer<KubeObject>[];
  }

  get informer(): ManagedController["informer"] {
    const all = this.all;
    return { get synced() { return all.every((c) => c.synced); }, stats: this.caches.hosts.stats, get: () => undefined };
  }

  startCache(): void {
    for (const c of this.all) c.start();
  }

  async startWorkers(): Promise<void> {
    await Promise.all(this.all.map((c) => c.waitForSync()));
    this.leading = true;
  }

  async stop(): Promise<void> {
    this.leading = false;
    await Promise.all(this.all.map((c) => c.shutdown()));
  }

  abort(): void {
    this.leading = false;
  }
}
