// observeVmUsage for Hyper-V: one script, Get-VMHost's LogicalProcessorCount and Get-VM's live
// figures for every VM. CPUUsage is Hyper-V's own recent rate, an integer percent of the host's
// logical processors (Msvm_SummaryInformation.ProcessorLoad): cores = CPUUsage ÷ 100 × LPs.
// Memory is MemoryAssigned, what the VM holds on the host now (dynamic memory moves it).
import { identityFromMetadata, type VmUsageSample } from "../contract/index.ts";
import { jsonList, metadataFromNotes, powerOf, vmId, type VmJson } from "./records.ts";

export interface VmLiveJson extends Pick<VmJson, "Id" | "Name" | "State" | "Notes"> {
  CPUUsage: number | null;
  MemoryAssigned: number | null;
}

const MiB = 1024 ** 2;

/** The script's output: the host's logical processors, then the VMs (absent when there are none). */
export function vmUsageFromOutput(output: string): VmUsageSample[] {
  const [hostLine, vmLine] = output.split(/\r?\n/).filter((l) => l.trim() !== "");
  const processors = Number(jsonList<{ LogicalProcessorCount: number }>(hostLine ?? "")[0]?.LogicalProcessorCount ?? 0);
  const samples: VmUsageSample[] = [];
  for (const vm of jsonList<VmLiveJson>(vmLine ?? "")) {
    const power = powerOf(vm.State);
    if (power !== "Running" && power !== "Paused") continue;
    const identity = identityFromMetadata(metadataFromNotes(vm.Notes), vm.Name, vmId(vm as unknown as VmJson));
    if (!identity || vm.MemoryAssigned === null) continue;
    const sample: VmUsageSample = { uid: identity.uid, memoryMiB: Math.round(Number(vm.MemoryAssigned) / MiB) };
    if (vm.CPUUsage !== null && processors > 0) sample.cpus = Math.round((Number(vm.CPUUsage) / 100) * processors * 1000) / 1000;
    samples.push(sample);
  }
  return samples;
}
