// The VDCQuota controller: recounts a namespace's usage from its stored VMs and VApps within
// seconds of any change, keeping the admission charges still on their way and releasing those of
// creates that were admitted but never stored (ledger.ts), and the headroom reservations of webhook
// replicas that are gone (reservation.ts). Its status write carries the
// resourceVersion it read (statusWrite "replace"), so it never undoes a charge the webhook made
// meanwhile: on a conflict the pass runs again. Ready says whether usage is within the limits.
import type { VDCQuotaStatus } from "../../src/api/index.ts";
import { vappsType, vdcQuotasType, virtualMachinesType, type VAppObject, type VdcQuotaObject, type VmObject } from "../../src/fleet/kinds.ts";
import { fromLimits, overLimit } from "../../src/fleet/quota.ts";
import { Coalescer } from "../../src/runtime/coalesce.ts";
import { statusOnlyChange } from "../../src/runtime/status.ts";
import { Ready } from "../../src/runtime/conditions.ts";
import { Controller, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { ControllerWithCaches, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { recount } from "./ledger.ts";
import { expire, reservationHoldMs, type Sighting } from "./reservation.ts";
import { storedIn } from "./stored.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";

export interface VdcQuotaControllerOptions {
  /** How long an admission charge waits for its object to be seen stored before it is released. */
  chargeGraceMs?: number;
}

export const defaultChargeGraceMs = 5_000;
/** A namespace's VM and VApp changes are recounted at most this often. */
export const recountIntervalMs = 1_000;

type Ctx = ReconcileContext<VdcQuotaObject, VDCQuotaStatus>;

export function vdcQuotaController(options: VdcQuotaControllerOptions = {}): ControllerRegistration {
  const graceMs = options.chargeGraceMs ?? defaultChargeGraceMs;
  return {
    name: "vdcquota",
    create(deps) {
      const log = deps.log.with({ controller: "vdcquota" });
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      const vapps = readOnlyCache<VAppObject>({ ...deps, log }, vappsType, deps.namespace);
      // when this process first saw each webhook replica's reservation as it is, per quota (ADR 0049)
      const sightings = new Map<string, Map<string, Sighting>>();
      const reconcile = (ctx: Ctx): Promise<ReconcileResult | void> => {
        const namespace = ctx.object.metadata.namespace ?? "";
        const counted = recount(ctx.status, storedIn(namespace, vms.list(), vapps.list()), new Date(), graceMs);
        for (const key of ["used", "usedPerDriver", "charges"] as const) delete ctx.status[key];
        Object.assign(ctx.status, Object.fromEntries(Object.entries(counted.ledger).filter(([, v]) => v !== undefined)));
        for (const c of counted.released) {
          ctx.event("Normal", "ChargeReleased", `released the charge for ${c.kind} ${c.name} admitted at ${c.at}: it was never stored`);
        }
        // a reservation unchanged for the hold plus the grace: its holder is gone (it gives its own back sooner)
        const key = `${namespace}/${ctx.object.metadata.name}`;
        const held = expire(ctx.status.reservations ?? [], sightings.get(key) ?? new Map(), performance.now(), reservationHoldMs + graceMs);
        if (held.kept.length > 0) {
          ctx.status.reservations = held.kept;
          sightings.set(key, held.seen);
        } else {
          delete ctx.status.reservations;
          sightings.delete(key);
        }
        for (const r of held.expired) {
          ctx.event("Normal", "ReservationReleased", `released the room webhook replica ${r.holder} held (written at ${r.at}): unchanged for ${Math.round((reservationHoldMs + graceMs) / 1000)} s, its replica is gone`);
        }
        readiness(ctx, namespace);
        // a charge still on its way, a reservation held: look again when it expires
        const next = [counted.nextExpiryMs, held.nextMs].filter((ms): ms is number => ms !== undefined);
        return Promise.resolve(next.length > 0 ? { requeueAfterMs: Math.max(50, Math.min(...next) + 50) } : undefined);
      };
      const controller = new Controller<VdcQuotaObject, VDCQuotaStatus>(
        // the webhook's charges (status-only updates) are recounted at the coalesced pace, not at once
        { name: "vdcquota", resource: vdcQuotasType, reconciler: { reconcile }, statusWrite: "replace", concurrency: 2, readiness: stalledWhen(["OverLimit"]), wakeOnUpdate: (old, q) => !statusOnlyChange(old, q) },
        deps,
      );
      // any VM or VApp change in a namespace recounts its quotas — at most once a second: during a
      // burst of creates a recount per VM would contend with the webhook's charges for every write
      const coalesced = new Coalescer(controller.queue, recountIntervalMs);
      const touch = (o: KubeObject): void => {
        for (const q of controller.informer.list()) if (q.metadata.namespace === o.metadata.namespace) coalesced.add(`${q.metadata.namespace}/${q.metadata.name}`);
      };
      controller.informer.on({
        updated: (old, q) => void (statusOnlyChange(old, q) && coalesced.add(`${q.metadata.namespace}/${q.metadata.name}`)),
        deleted: (q) => {
          coalesced.forget(`${q.metadata.namespace}/${q.metadata.name}`);
          sightings.delete(`${q.metadata.namespace}/${q.metadata.name}`);
        },
      });
      for (const cache of [vms, vapps] as Informer<KubeObject>[]) cache.on({ added: touch, updated: (_old, o) => touch(o), deleted: touch });
      return new ControllerWithCaches(controller, [vms, vapps] as Informer<KubeObject>[]);
    },
  };
}

function readiness(ctx: Ctx, namespace: string): void {
  const used = fromLimits(ctx.status.used);
  const over = overLimit(used, ctx.object.spec.hard);
  if (over) {
    ctx.setCondition({ type: Ready, status: "False", reason: "OverLimit", message: `namespace ${namespace} ${over.replace("would use", "uses")}: creates and growth are refused until usage drops` });
    return;
  }
  ctx.setCondition({ type: Ready, status: "True", reason: "Counted", message: `${used.virtualMachines} VMs, ${used.cpus} vCPUs counted; admission enforces the limits` });
}
