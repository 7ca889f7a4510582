// Where a VM goes, decided once and recorded before any driver call: the host the spec adopts
// from, else a placement recorded earlier (the marker of a pass that stopped after writing it, or
// this process's own decision the cache has not shown yet), else a new decision by src/placement.
// Reservations count a decision until the cache shows the VM on its host; a host that refused a
// create for capacity is left out for that VM for a while (rejections.ts).
import { adoptionRefused } from "./adoption.ts";
import type { DriverName, VirtualMachineStatus } from "../../src/api/index.ts";
import type { DatacenterObject, HostObject, HostPoolObject, VdcQuotaObject, VmObject } from "../../src/fleet/kinds.ts";
import { perDriverRefusal } from "../../src/fleet/quota-room.ts";
import { placedOnAnnotation } from "../../src/fleet/vm-markers.ts";
import { Reservations, VmsByHost, vmKey } from "../../src/fleet/vms-by-host.ts";
import { place } from "../../src/placement/place.ts";
import type { ReconcileContext } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import { candidates, placementRequest, type Fleet } from "../../src/fleet/placement-input.ts";
import { Rejections, rejectionTtlMs } from "./rejections.ts";
import { breaksReserve, type HaReserve } from "../../src/placement/ha-reserve.ts";
import type { HAPolicyObject } from "../../src/fleet/failovers.ts";

export const Scheduled = "Scheduled";

/**
 * Ready=False reasons that wait for a change in the world or the spec (kstatus Stalled, Argo CD
 * Degraded): no host fits, a host that is gone or unreachable, a crash loop, a failed create.
 * Every other Ready=False reason is work under way (Reconciling).
 */
export const vmStalledReasons: ReadonlySet<string> = new Set([
  "NoHostFits",
  "NoHostsInScope",
  "HAReserve",
  "QuotaExceeded",
  "AdoptionNotAllowed",
  "AdoptTargetMissing",
  "HostRejected",
  "HostUnreachable",
  "HostMissing",
  "CrashLoopBackOff",
  "CloudInitUnavailable",
  "MissingAtNewEndpoint",
  "ProvisioningFailed",
  "RestartDisabled",
  "NotRestartable",
  "Unschedulable",
]);

/** A VM no host takes now: Ready=False with Scheduled's reason, so `kubectl wait` and kstatus see it is not running. */
export function notScheduled(ctx: Ctx): void {
  const why = ctx.status.conditions?.find((c) => c.type === Scheduled);
  ctx.setCondition({ type: "Ready", status: "False", reason: why?.status === "False" ? why.reason : "Unschedulable", message: why?.message ?? "no host takes the VM now" });
}

export interface Decision {
  host: string;
  /** A new placement: the Scheduled Event's message, to record once the decision is written. */
  scheduled?: string;
}

type Ctx = ReconcileContext<VmObject, VirtualMachineStatus>;

export interface PlacementCaches {
  hosts: Informer<HostObject>;
  pools: Informer<HostPoolObject>;
  datacenters: Informer<DatacenterObject>;
  vms: Informer<VmObject>;
  /** The namespaces' VDCQuotas: their per-driver limits apply here to VMs whose spec names no driver. */
  quotas?: Informer<VdcQuotaObject>;
  /** HA admission control: the policies' reservedHostFailures per pool. */
  haPolicies?: Informer<HAPolicyObject>;
}

export class Placement {
  /** The VMs each host's status names (what placement counts as allocated there). */
  readonly placed = new VmsByHost();
  private readonly reservations = new Reservations();
  private readonly rejections = new Rejections();
  private readonly caches: PlacementCaches;
  private round = 0;

  constructor(caches: PlacementCaches) {
    this.caches = caches;
    this.placed.follow(caches.vms);
    // A reservation is needed only until the cache shows the VM on its host.
    const settled = (vm: VmObject): void => void (this.reservations.get(vmKey(vm)) === vm.status?.host && this.reservations.delete(vmKey(vm)));
    caches.vms.on({
      added: settled,
      updated: (_old, vm) => settled(vm),
      deleted: (vm) => {
        this.reservations.delete(vmKey(vm));
        this.rejections.forget(vmKey(vm));
      },
    });
  }

  /**
   * The host of a VM without one in status, recorded in status (host, driver, Scheduled, Created
   * =False/CreatePending); undefined (with Scheduled=False saying why) when no host fits. A new
   * decision comes with the Scheduled Event's message, recorded once the decision is written.
   */
  /** `restart`: an HA restart, which may use the capacity HA reserves (and must not be refused by it). */
  decide(ctx: Ctx, exclude: (host: string) => boolean = () => false, restart = false): Decision | undefined {
    const adopt = ctx.object.spec.adopt;
    if (adopt) {
      const refused = adoptionRefused(ctx.object, this.caches.hosts.get(adopt.host));
      if (refused) {
        const before = ctx.status.conditions?.find((c) => c.type === Scheduled);
        if (before?.reason !== "AdoptionNotAllowed" || before.message !== refused) ctx.event("Warning", "AdoptionNotAllowed", refused);
        ctx.setCondition({ type: Scheduled, status: "False", reason: "AdoptionNotAllowed", message: refused });
        return undefined;
      }
      ctx.setCondition({ type: Scheduled, status: "True", reason: "Adopted", message: `adopting ${adopt.externalId} on host ${adopt.host}` });
      this.record(ctx, adopt.host);
      return { host: adopt.host };
    }
    const earlier = this.earlier(ctx, exclude);
    if (earlier) {
      this.keepEarlier(ctx, earlier);
      this.record(ctx, earlier);
      return { host: earlier };
    }
    const decision = this.schedule(ctx, exclude, restart);
    if (decision) this.record(ctx, decision.host);
    return decision;
  }

  /** The host refused the create (capacity): it is left out for this VM, and the VM placed anew. */
  refused(ctx: Ctx, host: string, why: string): void {
    this.rejections.add(ctx.key, host, why);
    this.reservations.delete(ctx.key);
  }

  /** The VM left the fleet (deleted): nothing is held for it any more. */
  released(key: string): void {
    this.reservations.delete(key);
  }

  /** Places the VM; synchronous from reading the caches to reserving, so two passes never race. */
  private schedule(ctx: Ctx, exclude: (host: string) => boolean, restart: boolean): Decision | undefined {
    const { hosts, pools, datacenters, vms } = this.caches;
    const fleet: Fleet = { hosts: hosts.list(), pools: pools.list(), datacenters: datacenters.list(), placed: this.placed, reservations: this.reservations, vm: (key) => vms.get(key) };
    const refused = this.rejections.of(ctx.key);
    const overQuota = new Map<string, string>(); // driver → the quota's refusal
    const roomFor = this.quotaRoom(ctx.object, overQuota);
    const usable = candidates(fleet, ctx.object).filter((c) => !refused.has(c.name) && !exclude(c.name) && roomFor(c.driver));
    const request = placementRequest(ctx.object, fleet);
    const decision = place(request, usable, { round: this.round++ });
    const chosen = decision.host ? usable.find((c) => c.name === decision.host) : undefined;
    const reserve = chosen?.pool !== undefined && !restart ? this.reserveOf(chosen.pool) : undefined;
    const broken = chosen && reserve ? breaksReserve(usable.filter((c) => c.pool === chosen.pool), chosen.name, request.vm.resources, reserve) : undefined;
    if (broken) {
      ctx.setCondition({ type: Scheduled, status: "False", reason: "HAReserve", message: broken });
      return undefined;
    }
    if (!decision.host) {
      if (overQuota.size > 0 && usable.length === 0) {
        ctx.setCondition({ type: Scheduled, status: "False", reason: "QuotaExceeded", message: [...overQuota.values()].join("; ") });
        return undefined;
      }
      const why = refused.size > 0 ? `${decision.message}; left out for ${rejectionTtlMs / 60_000} minutes after refusing the create: ${[...refused.values()].join("; ")}` : decision.message;
      ctx.setCondition({ type: Scheduled, status: "False", reason: decision.reason, message: why });
      return undefined;
    }
    this.reservations.set(ctx.key, decision.host, ctx.object);
    ctx.setCondition({ type: Scheduled, status: "True", reason: decision.reason, message: decision.message });
    return { host: decision.host, scheduled: decision.message };
  }

  /**
   * Whether a host of a driver may take the VM under its namespace's per-driver quota limits
   * (recording why not in `overQuota`). Only for a VM whose spec names no driver: one that does
   * was checked against them at admission.
   */
  private quotaRoom(vm: VmObject, overQuota: Map<string, string>): (driver: DriverName) => boolean {
    const quotas = this.caches.quotas;
    if (!quotas || vm.spec.placement?.driver) return () => true;
    const sources = { quotas, vms: this.caches.vms, hostDriver: (h: string) => this.caches.hosts.get(h)?.spec.driver, reservedHost: (k: string) => this.reservations.get(k) };
    const judged = new Map<DriverName, boolean>();
    return (driver) => {
      let room = judged.get(driver);
      if (room === undefined) {
        const why = perDriverRefusal(sources, vm, driver);
        if (why) overQuota.set(driver, why);
        judged.set(driver, (room = why === undefined));
      }
      return room;
    };
  }

  /** The largest reservedHostFailures of the HAPolicies protecting the pool. */
  private reserveOf(pool: string): HaReserve | undefined {
    let reserve: HaReserve | undefined;
    for (const p of this.caches.haPolicies?.list() ?? []) {
      if (!p.spec.pools.includes(pool)) continue;
      const failures = p.spec.reservedHostFailures ?? 1;
      if (!reserve || failures > reserve.failures) reserve = { failures, policy: p.metadata.name };
    }
    return reserve;
  }

  /** A placement recorded before this pass but not yet in status; none after the host rejected the create. */
  private earlier(ctx: Ctx, exclude: (host: string) => boolean): string | undefined {
    const rejected = ctx.status.conditions?.some((c) => c.type === Scheduled && c.status === "False" && c.reason === "HostRejected") ?? false;
    if (rejected) return undefined;
    const marker = ctx.object.metadata.annotations?.[placedOnAnnotation];
    // a marker naming a host left out for this VM (an HA restart's failed host, the cache not
    // yet showing the marker removed) is not a placement to keep
    if (marker !== undefined && !exclude(marker)) return marker;
    const reserved = this.reservations.get(ctx.key);
    return reserved !== undefined && !exclude(reserved) ? reserved : undefined;
  }

  private keepEarlier(ctx: Ctx, host: string): void {
    if (this.reservations.get(ctx.key) === undefined) this.reservations.set(ctx.key, host, ctx.object); // counted until the cache shows it
    if (!ctx.status.conditions?.some((c) => c.type === Scheduled && c.status === "True")) {
      ctx.setCondition({ type: Scheduled, status: "True", reason: "Placed", message: `placed on host ${host} (recorded in ${placedOnAnnotation})` });
    }
  }

  /** Host, driver and Created=False/CreatePending in status: written with the create's outcome, or meanwhile if it is slow. */
  private record(ctx: Ctx, host: string): void {
    ctx.status.host = host;
    const hostObject = this.caches.hosts.get(host);
    if (hostObject) ctx.status.driver = hostObject.spec.driver;
    ctx.status.phase = "Provisioning";
    const what = ctx.object.spec.adopt ? `adopting ${ctx.object.spec.adopt.externalId}` : `creating as uid ${ctx.object.metadata.uid ?? "?"}`;
    ctx.setCondition({ type: "Created", status: "False", reason: "CreatePending", message: `${what} on host ${host}` });
    ctx.setCondition({ type: "Ready", status: "False", reason: "Provisioning", message: `${what} on host ${host}` });
  }
}
