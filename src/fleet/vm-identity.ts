// Who a VirtualMachine is to a hypervisor: its uid, namespace and name, and the external id its
// status recorded (or spec.adopt names) — what every driver call about the VM is given.
import { vmIdentity, type VmIdentity } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../api/index.ts";
import type { VmObject } from "./kinds.ts";

/**
 * adoptableUid: for a VM that spec.adopt names, the orphan's uid the VM there carries (one no
 * VirtualMachine has: the caller checked) — the driver then takes it although it is not this uid.
 * Once adopted, status.adoptedFromUid keeps it for the hypervisors that cannot relabel a VM.
 */
export function identityOf(vm: VmObject, status: VirtualMachineStatus | undefined = vm.status, adoptableUid?: string): VmIdentity {
  const ref = { uid: vm.metadata.uid ?? "", namespace: vm.metadata.namespace ?? "", name: vm.metadata.name };
  const identity = vmIdentity(ref, status?.externalId ?? vm.spec.adopt?.externalId);
  const carried = vm.spec.adopt ? (status?.adoptedFromUid ?? adoptableUid) : undefined;
  if (carried !== undefined) identity.adoptableUid = carried;
  return identity;
}
