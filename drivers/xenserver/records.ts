// XAPI VM records as plain contract data. The identity lives in the VM's other_config under
// the contract's keys (io.omnivisor.uid, ...); the external id is the VM's uuid.
import { identityFromMetadata, type ObservedPower, type VmObservation } from "../contract/index.ts";

export const nullRef = "OpaqueRef:NULL";

/** The fields of a XenAPI VM record this driver reads. Numbers arrive as numbers (JSON-RPC) or strings (XML-RPC). */
export interface VmRecord {
  uuid: string;
  name_label: string;
  /** "Halted", "Running", "Paused" or "Suspended". */
  power_state: string;
  is_a_template: boolean;
  is_a_snapshot?: boolean;
  is_control_domain: boolean;
  other_config: Record<string, string>;
  VCPUs_at_startup: number | string;
  VCPUs_max: number | string;
  memory_static_max: number | string;
  memory_static_min: number | string;
  resident_on: string;
  VBDs?: string[];
}

export type VmRecords = Record<string, VmRecord>;

/** A guest VM: not a template, snapshot or the control domain (dom0). */
export function isGuest(vm: VmRecord): boolean {
  return !vm.is_a_template && vm.is_a_snapshot !== true && !vm.is_control_domain;
}

export function powerOf(state: string): ObservedPower {
  switch (state) {
    case "Running":
      return "Running";
    case "Paused":
      return "Paused";
    // A suspended VM is not running; resuming it is how it gets back to Running.
    case "Halted":
    case "Suspended":
      return "Stopped";
    default:
      return "Unknown";
  }
}

export function observation(vm: VmRecord): VmObservation {
  const identity = identityFromMetadata(vm.other_config, vm.name_label, vm.uuid);
  const observed: VmObservation = {
    externalId: vm.uuid,
    name: vm.name_label,
    managed: identity !== undefined,
    power: powerOf(vm.power_state),
    cpus: Number(vm.VCPUs_at_startup),
    memoryMiB: Math.round(Number(vm.memory_static_max) / 1024 ** 2),
    addresses: [],
  };
  if (identity !== undefined) observed.identity = identity;
  return observed;
}
