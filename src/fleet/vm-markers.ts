// What the VirtualMachine controller writes into a VM's metadata, by name: read by tests, tools and
// (later) the controllers that ask it to move a VM.

/** Guards the VM's removal from its hypervisor: released once the VM is gone from its host. */
export const vmFinalizer = "omnivisor.io/virtual-machine";

/** The host a VM was placed on, recorded before its create (status.host says where it is now). ADR 0014. */
export const placedOnAnnotation = "omnivisor.io/placed-on";

/**
 * Written by the user (kubectl annotate): a VM that was not found at its Host's new endpoint is
 * created there only when this names that endpoint. A changed endpoint alone never creates VMs:
 * it may point at the wrong machine, or at one that has not seen the VMs yet.
 */
export const recreateAtAnnotation = "omnivisor.io/recreate-at";
