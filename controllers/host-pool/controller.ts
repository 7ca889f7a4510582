// The HostPool controller: membership (listed hosts, label selector, or hosts naming the pool)
// and the members' summed capacity, allocation and VM count, all from the Hosts' status (live
// usage is in metrics, not status: ADR 0037). Re-reconciles every pool when a Host changes
// (pools are few; the sums are cheap).
import type { HostPoolStatus } from "../../src/api/index.ts";
import { Ready } from "../../src/runtime/conditions.ts";
import { Controller, type ReconcileContext } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { hostPoolsType, hostsType, type HostObject, type HostPoolObject } from "../../src/fleet/kinds.ts";
import { Coalescer, summaryIntervalMs } from "../../src/runtime/coalesce.ts";
import { ControllerWithCaches, clusterScoped, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { aggregate, poolMembers } from "../../src/fleet/membership.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";

export function hostPoolController(): ControllerRegistration {
  return {
    name: "hostpool",
    create(deps) {
      const log = deps.log.with({ controller: "hostpool" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const reconcile = (ctx: ReconcileContext<HostPoolObject, HostPoolStatus>): Promise<void> => {
        const members = poolMembers(ctx.object, hosts.list());
        const sums = aggregate(members);
        Object.assign(ctx.status, sums);
        ctx.setCondition(
          sums.readyHosts > 0
            ? { type: Ready, status: "True", reason: "HostsReady", message: `${sums.readyHosts} of ${sums.hosts} hosts ready: ${members.map((h) => h.metadata.name).join(", ")}` }
            : { type: Ready, status: "False", reason: sums.hosts === 0 ? "NoHosts" : "NoReadyHosts", message: `${sums.hosts} hosts, none ready` },
        );
        return Promise.resolve();
      };
      const controller = new Controller<HostPoolObject, HostPoolStatus>({ name: "hostpool", resource: hostPoolsType, reconciler: { reconcile }, readiness: stalledWhen(["NoHosts", "NoReadyHosts"]) }, clusterScoped(deps));
      // sums follow every Host write: coalesced, so a burst of them is one pass per interval
      const coalesced = new Coalescer(controller.queue, summaryIntervalMs);
      const all = (): void => controller.informer.keys().forEach((k) => coalesced.add(k));
      hosts.on({ added: all, updated: all, deleted: all });
      controller.informer.on({ deleted: (pool) => coalesced.forget(pool.metadata.name) });
      return new ControllerWithCaches(controller, [hosts] as Informer<KubeObject>[]);
    },
  };
}
