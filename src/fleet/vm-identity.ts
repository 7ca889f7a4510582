// Who a VirtualMachine is to a hypervisor: its uid, namespace and name, and the external id its
// status recorded (or spec.adopt names) — what every driver call about the VM is given.
import { vmIdentity, type VmIdentity } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../api/index.ts";
import type { VmObject } from "./kinds.ts";

export function identityOf(vm: VmObject, status: VirtualMachineStatus | undefined = vm.status): VmIdentity {
  const ref = { uid: vm.metadata.uid ?? "", namespace: vm.metadata.namespace ?? "", name: vm.metadata.name };
  return vmIdentity(ref, status?.externalId ?? vm.spec.adopt?.externalId);
}
