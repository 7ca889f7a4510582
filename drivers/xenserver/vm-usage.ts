// observeVmUsage for XenServer from XenAPI's VM_metrics (VM.get_all_records and
// VM_metrics.get_all_records: two calls for the whole pool, whatever its size): memory_actual is
// the memory the domain holds; VCPUs_utilisation (VCPU → 0..1, the hypervisor's own recent rate)
// summed is the CPUs busy. XenServer 6.1 and later may leave VCPUs_utilisation empty in favour of
// its RRDs: the CPUs are then undefined and DRS counts the VM's allocation for CPU.
import { identityFromMetadata, type VmUsageSample } from "../contract/index.ts";
import { isGuest, nullRef, type VmRecord } from "./records.ts";

/** The VM_metrics fields read here; numbers arrive as numbers (JSON-RPC) or strings (XML-RPC). */
export interface VmMetricsRecord {
  memory_actual: number | string;
  VCPUs_utilisation?: Record<string, number | string>;
}

const MiB = 1024 ** 2;

/** The managed guests `here` says run on this host, with their metrics; halted and unmanaged VMs are left out. */
export function vmUsage(vms: Iterable<VmRecord>, metrics: Readonly<Record<string, VmMetricsRecord>>, here: (vm: VmRecord) => boolean): VmUsageSample[] {
  const samples: VmUsageSample[] = [];
  for (const vm of vms) {
    if (!isGuest(vm) || (vm.power_state !== "Running" && vm.power_state !== "Paused") || !here(vm)) continue;
    const identity = identityFromMetadata(vm.other_config, vm.name_label, vm.uuid);
    const m = metrics[vm.metrics ?? nullRef];
    if (!identity || !m) continue;
    const sample: VmUsageSample = { uid: identity.uid, memoryMiB: Math.round(Number(m.memory_actual) / MiB) };
    const perVcpu = Object.values(m.VCPUs_utilisation ?? {}).map(Number);
    if (perVcpu.length > 0) sample.cpus = Math.round(perVcpu.reduce((a, b) => a + b, 0) * 1000) / 1000;
    samples.push(sample);
  }
  return samples;
}
