// Reading VMs and the host: which properties we ask the PropertyCollector for, and how they
// become the contract's plain observations.
import { identityFromMetadata, type HostObservation, type ObservedPower, type VmObservation } from "../contract/index.ts";
import type { Inventory } from "./inventory.ts";
import { readDatastores } from "./inventory.ts";
import type { VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { VimFault } from "./vim25/faults.ts";
import { retrieve, type ObjectContent } from "./vim25/property-collector.ts";
import { childrenNamed, numberAt, textAt, type XmlElement } from "./vim25/xml.ts";

export const vmPaths = ["name", "config.extraConfig", "config.hardware.numCPU", "config.hardware.memoryMB", "runtime.powerState", "guest.net", "guest.ipAddress"];

export type EsxPowerState = "poweredOn" | "poweredOff" | "suspended";

export function powerOf(esx: string | undefined): ObservedPower {
  switch (esx) {
    case "poweredOn":
      return "Running";
    case "poweredOff":
      return "Stopped";
    case "suspended":
      return "Paused";
    default:
      return "Unknown";
  }
}

export function extraConfig(val: XmlElement | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of childrenNamed(val, "OptionValue")) out[textAt(o, "key") ?? ""] = textAt(o, "value") ?? "";
  return out;
}

function addresses(vm: ObjectContent): string[] {
  const found = new Set<string>();
  for (const nic of childrenNamed(vm.props.get("guest.net"), "GuestNicInfo")) {
    for (const ip of childrenNamed(nic, "ipAddress")) if (ip.text) found.add(ip.text);
  }
  const primary = vm.props.get("guest.ipAddress")?.text;
  if (primary) found.add(primary);
  return [...found];
}

export function vmObservation(vm: ObjectContent): VmObservation {
  const name = vm.props.get("name")?.text ?? "";
  const identity = identityFromMetadata(extraConfig(vm.props.get("config.extraConfig")), name, vm.obj.value);
  const obs: VmObservation = {
    externalId: vm.obj.value,
    name,
    managed: identity !== undefined,
    power: powerOf(vm.props.get("runtime.powerState")?.text),
    cpus: numberAt(vm.props.get("config.hardware.numCPU")) ?? 0,
    memoryMiB: numberAt(vm.props.get("config.hardware.memoryMB")) ?? 0,
    addresses: addresses(vm),
  };
  if (identity) obs.identity = identity;
  return obs;
}

export async function readVms(client: VimClient, datacenter: MoRef): Promise<VmObservation[]> {
  const found = await retrieve(client, "VirtualMachine", vmPaths, { vmsOf: datacenter });
  // A VM being registered has no config yet; it shows up on the next read.
  return found.filter((vm) => vm.props.has("name")).map(vmObservation);
}

/** One VM by moref; undefined when the host has no such VM (any more). */
export async function readVm(client: VimClient, vm: MoRef): Promise<VmObservation | undefined> {
  try {
    const [found] = await retrieve(client, "VirtualMachine", vmPaths, { objects: [vm] });
    return found?.props.has("name") === true ? vmObservation(found) : undefined;
  } catch (err) {
    if (err instanceof VimFault && err.fault === "ManagedObjectNotFound") return undefined;
    throw err;
  }
}

export async function readHost(client: VimClient, inventory: Inventory, vms: VmObservation[]): Promise<HostObservation> {
  const [host] = await retrieve(client, "HostSystem", ["summary.hardware", "summary.quickStats"], { objects: [inventory.host] });
  const hw = host?.props.get("summary.hardware");
  const stats = host?.props.get("summary.quickStats");
  const threads = numberAt(hw, "numCpuThreads") ?? 0;
  const totalMhz = (numberAt(hw, "cpuMhz") ?? 0) * (numberAt(hw, "numCpuCores") ?? threads);
  const datastores = await readDatastores(client, inventory.datastores);
  const count = (p: ObservedPower) => vms.filter((v) => v.power === p).length;
  const observation: HostObservation = {
    reachable: true,
    hypervisor: "esxi",
    version: client.content.about.version,
    capacity: {
      cpus: threads,
      memoryMiB: Math.floor((numberAt(hw, "memorySize") ?? 0) / 1024 / 1024),
      storageGiB: Math.floor(datastores.reduce((sum, d) => sum + d.capacityBytes, 0) / 1024 ** 3),
    },
    vms: { total: vms.length, running: count("Running"), paused: count("Paused"), stopped: count("Stopped") },
  };
  const cpuMhz = numberAt(stats, "overallCpuUsage");
  const memMiB = numberAt(stats, "overallMemoryUsage");
  if (cpuMhz !== undefined && memMiB !== undefined && totalMhz > 0) {
    observation.usage = { cpuPercent: Math.min(100, (cpuMhz / totalMhz) * 100), memoryUsedMiB: memMiB };
  }
  return observation;
}
