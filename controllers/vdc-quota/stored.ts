// What the recount sees stored in a namespace, by uid: each VApp with all its members, each VM not
// charged through its VApp. A member without a driver in its spec counts on the driver its VM was
// placed on, once it has one.
import type { VAppObject, VmObject } from "../../src/fleet/kinds.ts";
import { chargedThrough, owningVApp, vappCharge, vmCharge } from "../../src/fleet/quota.ts";
import type { Stored } from "./ledger.ts";

export function storedIn(namespace: string, vms: readonly VmObject[], vapps: readonly VAppObject[]): Map<string, Stored> {
  const out = new Map<string, Stored>();
  const ownVms = vms.filter((vm) => vm.metadata.namespace === namespace);
  const byName = new Map(ownVms.map((vm) => [vm.metadata.name, vm]));
  const ownVApps = new Map(vapps.filter((a) => a.metadata.namespace === namespace).map((a) => [a.metadata.name, a]));
  for (const vapp of ownVApps.values()) {
    const placedOn = (member: string) => {
      const vm = byName.get(`${vapp.metadata.name}-${member}`);
      return vm && chargedThrough(vm, vapp) ? vm.status?.driver : undefined;
    };
    out.set(vapp.metadata.uid ?? vapp.metadata.name, { kind: "VApp", name: vapp.metadata.name, charge: vappCharge(vapp.spec, placedOn) });
  }
  for (const vm of ownVms) {
    const owner = owningVApp(vm);
    if (owner && chargedThrough(vm, ownVApps.get(owner.name))) continue;
    out.set(vm.metadata.uid ?? vm.metadata.name, { kind: "VirtualMachine", name: vm.metadata.name, charge: vmCharge(vm) });
  }
  return out;
}
