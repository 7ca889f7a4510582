// Who a VirtualMachine is to a hypervisor: its uid, namespace and name, and the external id its
// status recorded (or spec.adopt names) — what every driver call about the VM is given.
import { vmIdentity, type VmIdentity } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../api/index.ts";
import type { VmObject } from "./kinds.ts";

/**
 * uidExists: whether a VirtualMachine with a uid exists. Given, a VM that spec.adopt names may be
 * taken over although it carries another uid, as long as no VirtualMachine has that uid (an
 * orphan: its object is gone); without it, only a VM with no uid (or this one) is adopted.
 */
export function identityOf(vm: VmObject, status: VirtualMachineStatus | undefined = vm.status, uidExists?: (uid: string) => boolean): VmIdentity {
  const ref = { uid: vm.metadata.uid ?? "", namespace: vm.metadata.namespace ?? "", name: vm.metadata.name };
  const identity = vmIdentity(ref, status?.externalId ?? vm.spec.adopt?.externalId);
  if (vm.spec.adopt && uidExists) identity.mayAdopt = (carried) => !uidExists(carried);
  return identity;
}
