// The VApp controller: each member becomes a VirtualMachine <vapp>-<member> controlled by the
// VApp (members.ts), all made at once and held stopped until every one is on its hypervisor, then
// powered on in start order (start-order.ts, sequence.ts) and off in reverse; a member that fails
// to provision or start (failure.ts) rolls the vApp back or leaves it, per failurePolicy
// (steps.ts). The VirtualMachine controller does the rest for each VM; deleting the VApp deletes
// the VMs through the garbage collector (owner references), which takes them off their hosts.
import type { VAppStatus } from "../../src/api/index.ts";
import { vAppsType, virtualMachinesType, type VAppObject, type VmObject } from "../../src/fleet/kinds.ts";
import { Controller } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { ControllerWithCaches, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { defaultTiming, type FailureTiming } from "./failure.ts";
import { memberVmWriter } from "./member-vms.ts";
import { vAppLabel } from "./members.ts";
import type { Ctx, VAppEnv } from "./pass.ts";
import { reconcileVApp } from "./steps.ts";

export interface VAppControllerOptions {
  timing?: Partial<FailureTiming>;
}

/** The vApp a VM belongs to (namespace/name): its controlling VApp, else its omnivisor.io/vapp label. */
function vAppKeyOf(vm: VmObject): string | undefined {
  const owner = vm.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === "VApp")?.name ?? vm.metadata.labels?.[vAppLabel];
  return owner === undefined ? undefined : `${vm.metadata.namespace ?? ""}/${owner}`;
}

export function vAppController(options: VAppControllerOptions = {}): ControllerRegistration {
  return {
    name: "vapp",
    create(deps) {
      const log = deps.log.with({ controller: "vapp" });
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      // VMs by the vApp they belong to, kept from the cache's events
      const byVApp = new Map<string, Map<string, VmObject>>();
      const index = (vm: VmObject): void => {
        const key = vAppKeyOf(vm);
        if (key) (byVApp.get(key) ?? byVApp.set(key, new Map()).get(key)!).set(vm.metadata.name, vm);
      };
      const unindex = (vm: VmObject): void => {
        const key = vAppKeyOf(vm);
        const of = key ? byVApp.get(key) : undefined;
        of?.delete(vm.metadata.name);
        if (key && of?.size === 0) byVApp.delete(key);
      };
      const env: VAppEnv = {
        labelled: (vapp) => [...(byVApp.get(`${vapp.metadata.namespace ?? ""}/${vapp.metadata.name}`)?.values() ?? [])],
        vm: (namespace, name) => vms.get(`${namespace}/${name}`),
        writer: memberVmWriter(deps.kc),
        timing: { ...defaultTiming, ...options.timing },
        now: () => Date.now(),
      };
      const controller = new Controller<VAppObject, VAppStatus>(
        { name: "vapp", resource: vAppsType, concurrency: 4, backoff: { baseMs: 500, capMs: 60_000 }, reconciler: { reconcile: (ctx: Ctx) => reconcileVApp(ctx, env) }, readiness: { stalled: (_ready, status) => (status as VAppStatus).phase === "Failed" } },
        deps,
      );
      // A member's VM changed (made, placed, started, stopped, gone): its vApp looks again.
      const wake = (vm: VmObject): void => {
        const key = vAppKeyOf(vm);
        if (key) controller.queue.add(key);
      };
      vms.on({
        added: (vm) => {
          index(vm);
          wake(vm);
        },
        updated: (before, vm) => {
          unindex(before);
          index(vm);
          wake(vm);
        },
        deleted: (vm) => {
          unindex(vm);
          wake(vm);
        },
      });
      return new ControllerWithCaches(controller, [vms] as Informer<KubeObject>[]);
    },
  };
}
