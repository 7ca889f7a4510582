// XAPI VM records as plain contract data. The identity lives in the VM's other_config under
// the contract's keys (io.omnivisor.uid, ...); the external id is the VM's uuid.
import { identityFromMetadata, type ObservedPower, type VmObservation } from "../contract/index.ts";

export const nullRef = "OpaqueRef:NULL";

/** The fields of a XenAPI VM record this driver reads. Numbers arrive as numbers (JSON-RPC) or strings (XML-RPC). */
export interface VmRecord {
  uuid: string;
  /** Keys XAPI writes to the guest's xenstore at start (vm-data/...). */
  xenstore_data?: Record<string, string>;
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
  /** The host the VM runs on (running or paused); OpaqueRef:NULL when halted or suspended. */
  resident_on: string;
  /** The host VM.start prefers (a hint; VM.start_on is not bound by it); OpaqueRef:NULL for none. */
  affinity?: string;
  VBDs?: string[];
  VIFs?: string[];
  /** VM_metrics (memory_actual, VCPUs_utilisation), which XAPI keeps for every VM. */
  metrics?: string;
  /** VM_guest_metrics, reported by the guest tools; OpaqueRef:NULL without them. */
  guest_metrics?: string;
  /** What the VM is busy with: task ref → operation ("pool_migrate", "migrate_send", "clean_shutdown", …). */
  current_operations?: Record<string, string>;
}

/** task fields the driver reads (XenAPI class task). */
export interface TaskRecord {
  /** "pending", "success", "failure", "cancelling" or "cancelled". */
  status: string;
  /** 0..1 */
  progress: number;
  /** On failure (and cancel): the error code, then its parameters. */
  error_info: string[];
}

/** The migration task running for the VM, from its current_operations; undefined when none runs. */
export function migrationTask(vm: VmRecord): string | undefined {
  return Object.entries(vm.current_operations ?? {}).find(([, op]) => op === "pool_migrate" || op === "migrate_send")?.[0];
}

/** VM_guest_metrics.networks: "0/ip", "0/ipv4/0", "0/ipv6/0", … → address. */
export type GuestNetworks = Record<string, string>;

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

/** The guest's addresses, IPv4 first, without duplicates. */
export function addresses(networks: GuestNetworks | undefined): string[] {
  const entries = Object.entries(networks ?? {}).filter(([key]) => /^\d+\/ip(v[46]\/\d+)?$/.test(key));
  const v4 = entries.filter(([key]) => !key.includes("v6")).map(([, value]) => value);
  const v6 = entries.filter(([key]) => key.includes("v6")).map(([, value]) => value);
  return [...new Set([...v4, ...v6])].filter((a) => a !== "");
}

export function observation(vm: VmRecord, networks?: GuestNetworks): VmObservation {
  const identity = identityFromMetadata(vm.other_config, vm.name_label, vm.uuid);
  const observed: VmObservation = {
    externalId: vm.uuid,
    name: vm.name_label,
    managed: identity !== undefined,
    power: powerOf(vm.power_state),
    cpus: Number(vm.VCPUs_at_startup),
    memoryMiB: Math.round(Number(vm.memory_static_max) / 1024 ** 2),
    addresses: addresses(networks),
  };
  if (identity !== undefined) observed.identity = identity;
  return observed;
}
