// observeVmUsage for ESXi: one PropertyCollector read of every VM's identity, power state and
// summary.quickStats — the host's own recent figures, so no earlier sample is needed: CPUs busy =
// overallCpuUsage (MHz) ÷ the host's MHz per core; memory = hostMemoryUsage (consumed host memory,
// as libvirt's balloon.rss), else guestMemoryUsage (active guest memory). A host that publishes no
// quickStats for any running VM (vcsim: only guestHeartbeatStatus) is refused as unsupported.
import { identityFromMetadata, UnsupportedError, type VmUsageSample } from "../contract/index.ts";
import type { Inventory } from "./inventory.ts";
import { extraConfig } from "./observe.ts";
import type { VimClient } from "./vim25/client.ts";
import { retrieve, type ObjectContent } from "./vim25/property-collector.ts";
import { numberAt } from "./vim25/xml.ts";

export const usagePaths = ["name", "config.extraConfig", "runtime.powerState", "summary.quickStats"];

/** One VM's sample from its properties; undefined when unmanaged, off, or without quickStats figures. */
export function vmUsageOf(vm: ObjectContent, mhzPerCore: number): VmUsageSample | "no-stats" | undefined {
  const power = vm.props.get("runtime.powerState")?.text;
  if (power !== "poweredOn") return undefined;
  const identity = identityFromMetadata(extraConfig(vm.props.get("config.extraConfig")), vm.props.get("name")?.text ?? "", vm.obj.value);
  if (!identity) return undefined;
  const stats = vm.props.get("summary.quickStats");
  const memory = numberAt(stats, "hostMemoryUsage") ?? numberAt(stats, "guestMemoryUsage");
  const mhz = numberAt(stats, "overallCpuUsage");
  if (memory === undefined && mhz === undefined) return "no-stats";
  const sample: VmUsageSample = { uid: identity.uid, memoryMiB: memory ?? 0 };
  if (mhz !== undefined && mhzPerCore > 0) sample.cpus = Math.round((mhz / mhzPerCore) * 1000) / 1000;
  return sample;
}

export class EsxiVmUsage {
  private mhzPerCore: number | undefined;

  async observe(client: VimClient, inventory: Inventory): Promise<VmUsageSample[]> {
    this.mhzPerCore ??= await this.readMhzPerCore(client, inventory);
    const vms = await retrieve(client, "VirtualMachine", usagePaths, { vmsOf: inventory.datacenter });
    const seen = vms.map((vm) => vmUsageOf(vm, this.mhzPerCore ?? 0));
    const samples = seen.filter((s): s is VmUsageSample => typeof s === "object");
    if (samples.length === 0 && seen.includes("no-stats")) {
      throw new UnsupportedError("esxi: this host publishes no per-VM usage (summary.quickStats of its running VMs carry no overallCpuUsage or memory figures)", { reason: "no-vm-stats" });
    }
    return samples;
  }

  /** summary.hardware.cpuMhz: the speed of one core, what overallCpuUsage is counted in. */
  private async readMhzPerCore(client: VimClient, inventory: Inventory): Promise<number | undefined> {
    const [host] = await retrieve(client, "HostSystem", ["summary.hardware.cpuMhz"], { objects: [inventory.host] });
    return numberAt(host?.props.get("summary.hardware.cpuMhz"));
  }
}
