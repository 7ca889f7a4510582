// The VApp controller's writes to its members' VirtualMachines: a server-side apply of the whole
// VM (create or update in one call) under its own field manager, and delete. Its own manager:
// the VirtualMachine controller applies the VM's finalizer and markers as `omnivisor`, and an
// apply by one manager drops the fields it owned and left out — sharing the name would drop the spec.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { virtualMachinesType, type VmObject } from "../../src/fleet/kinds.ts";
import { statusCode } from "../../src/runtime/log.ts";
import type { DesiredVm } from "./members.ts";

export const vAppFieldManager = "omnivisor-vapp";

const applyOptions = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

export interface MemberVmWriter {
  /** The VM as the API server has it now (undefined: none), for a member the cache does not show. */
  read(namespace: string, name: string): Promise<VmObject | undefined>;
  apply(vm: DesiredVm): Promise<void>;
  /** Absent counts as deleted. */
  remove(namespace: string, name: string): Promise<void>;
}

export function memberVmWriter(kc: KubeConfig): MemberVmWriter {
  const api = kc.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = virtualMachinesType;
  return {
    async read(namespace, name) {
      try {
        return (await api.getNamespacedCustomObject({ group, version, plural, namespace, name })) as VmObject;
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    async apply(vm) {
      await api.patchNamespacedCustomObject({ group, version, plural, namespace: vm.metadata.namespace, name: vm.metadata.name, body: vm, fieldManager: vAppFieldManager, force: true }, applyOptions);
    },
    async remove(namespace, name) {
      try {
        await api.deleteNamespacedCustomObject({ group, version, plural, namespace, name, propagationPolicy: "Background" });
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    },
  };
}
