// What VMs ask of a host (CPUs, memory, storage) and how figures are written as quantities: shared
// by placement, the Host controller's allocated figures and the pools' sums.
import { formatGiB, formatMiB, toGiB, toMiB } from "../api/quantity.ts";
import type { VmObject } from "./kinds.ts";

export interface HostFigures {
  cpus: number;
  memoryMiB: number;
  storageGiB?: number;
}

/** What a VM asks for (an adopted VM without a size counts as what was observed, recorded in status). */
export function vmDemand(vm: VmObject): HostFigures {
  const storageGiB = (vm.spec.disks ?? []).reduce((sum, d) => sum + toGiB(d.size), 0);
  return { cpus: vm.spec.cpus ?? 0, memoryMiB: toMiB(vm.spec.memory), storageGiB };
}

export function sumDemand(vms: readonly VmObject[]): HostFigures {
  return vms.reduce<HostFigures>(
    (acc, vm) => {
      const d = vmDemand(vm);
      return { cpus: acc.cpus + d.cpus, memoryMiB: acc.memoryMiB + d.memoryMiB, storageGiB: (acc.storageGiB ?? 0) + (d.storageGiB ?? 0) };
    },
    { cpus: 0, memoryMiB: 0, storageGiB: 0 },
  );
}

export function resourcesOf(f: HostFigures): { cpus: number; memory: string; storage?: string } {
  return { cpus: f.cpus, memory: formatMiB(f.memoryMiB), ...(f.storageGiB !== undefined ? { storage: formatGiB(f.storageGiB) } : {}) };
}
