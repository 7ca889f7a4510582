// What the VirtualMachine controller writes into a VM's metadata, by name: read by tests, tools and
// (later) the controllers that ask it to move a VM.

/** Guards the VM's removal from its hypervisor: released once the VM is gone from its host. */
export const vmFinalizer = "omnivisor.io/virtual-machine";

/** The host a VM was placed on, recorded before its create (status.host says where it is now). ADR 0014. */
export const placedOnAnnotation = "omnivisor.io/placed-on";
