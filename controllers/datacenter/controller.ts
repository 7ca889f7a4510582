// The Datacenter controller: its pools and hosts (those whose spec names it) and their summed
// capacity, allocation and VM count (live usage is in metrics, not status: ADR 0037).
import type { DatacenterStatus } from "../../src/api/index.ts";
import { Ready } from "../../src/runtime/conditions.ts";
import { Controller, type ReconcileContext } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { aggregate } from "../../src/fleet/membership.ts";
import { datacentersType, hostPoolsType, hostsType, type DatacenterObject, type HostObject, type HostPoolObject } from "../../src/fleet/kinds.ts";
import { Coalescer, summaryIntervalMs } from "../../src/runtime/coalesce.ts";
import { ControllerWithCaches, clusterScoped, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { stalledWhen } from "../../src/runtime/readiness.ts";

export function datacenterController(): ControllerRegistration {
  return {
    name: "datacenter",
    create(deps) {
      const log = deps.log.with({ controller: "datacenter" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const reconcile = (ctx: ReconcileContext<DatacenterObject, DatacenterStatus>): Promise<void> => {
        const name = ctx.object.metadata.name;
        const members = hosts.list().filter((h) => h.spec.datacenter === name);
        const sums = aggregate(members);
        ctx.status.pools = pools.list().filter((p) => p.spec.datacenter === name).length;
        ctx.status.hosts = sums.hosts;
        ctx.status.readyHosts = sums.readyHosts;
        ctx.status.virtualMachines = sums.virtualMachines;
        ctx.status.capacity = sums.capacity;
        ctx.status.allocated = sums.allocated;
        ctx.setCondition(
          sums.readyHosts > 0
            ? { type: Ready, status: "True", reason: "HostsReady", message: `${sums.readyHosts} of ${sums.hosts} hosts ready` }
            : { type: Ready, status: "False", reason: sums.hosts === 0 ? "NoHosts" : "NoReadyHosts", message: `${sums.hosts} hosts, none ready` },
        );
        return Promise.resolve();
      };
      const controller = new Controller<DatacenterObject, DatacenterStatus>({ name: "datacenter", resource: datacentersType, reconciler: { reconcile }, readiness: stalledWhen(["NoHosts", "NoReadyHosts"]) }, clusterScoped(deps));
      // sums follow every Host write: coalesced, so a burst of them is one pass per interval
      const coalesced = new Coalescer(controller.queue, summaryIntervalMs);
      const all = (): void => controller.informer.keys().forEach((k) => coalesced.add(k));
      const caches = [hosts, pools] as Informer<KubeObject>[];
      for (const cache of caches) cache.on({ added: all, updated: all, deleted: all });
      controller.informer.on({ deleted: (dc) => coalesced.forget(dc.metadata.name) });
      return new ControllerWithCaches(controller, caches);
    },
  };
}
