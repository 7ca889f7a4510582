// A VirtualMachine's spec as the driver contract's plain VmSpec: sizes in MiB / GiB, networks
// mapped through the Datacenter's per-driver names, and the power state to reach.
import { TerminalError, type CloudInitData, type NetworkSpec, type PowerState, type PowerTarget, type VmSpec } from "../../drivers/contract/index.ts";
import type { DatacenterObject, VmObject } from "./kinds.ts";
import { toGiB, toMiB } from "../api/quantity.ts";

type DriverName = "libvirt" | "esxi" | "xenserver" | "hyperv" | "docker";

export function powerTarget(vm: VmObject, state: PowerState = vm.spec.powerState ?? "Running"): PowerTarget {
  const off = vm.spec.powerOff ?? { mode: "TrySoft", timeoutSeconds: 120 };
  return state === "Stopped" ? { state, mode: off.mode, deadlineSeconds: off.timeoutSeconds } : { state };
}

function networks(vm: VmObject, driver: DriverName, datacenter: DatacenterObject | undefined): NetworkSpec[] | undefined {
  if (vm.spec.networks === undefined) return undefined; // the host's default network
  return vm.spec.networks.map((nic) => {
    const mapped = datacenter?.spec.networks?.find((n) => n.name === nic.network)?.bridges[driver];
    const spec: NetworkSpec = { name: nic.name, network: mapped ?? nic.network };
    if (nic.model !== undefined) spec.model = nic.model;
    if (nic.macAddress !== undefined) spec.macAddress = nic.macAddress;
    return spec;
  });
}

/** A VM disk's volume name starts with its VM's uid (libvirt: <uid>-<disk>.qcow2). */
const uidPrefixed = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-/i;

/**
 * Why an image outside the catalog may not go to the driver as written (undefined: it may): it
 * names a path on the host — a libvirt pool/volume or a VM disk's volume, an ESXi datastore path,
 * a file path — which could hand a tenant another VM's disk or a host file. A Docker reference
 * names a registry image, never a host file.
 */
export function rawImagePath(image: string, driver: DriverName): string | undefined {
  if (driver === "docker") return undefined;
  if (image.startsWith("[")) return "a datastore path";
  if (/[/\\]/.test(image) || image.includes("..")) return "a path";
  if (uidPrefixed.test(image)) return "a VM disk's volume name";
  return undefined;
}

/**
 * A disk's image as the driver knows it: a name in the datacenter's image catalog becomes that
 * driver's source; a plain name not in the catalog goes to the driver as written; a path only
 * where the datacenter allows raw paths (imageStore.allowRawPaths).
 */
export function imageFor(image: string, driver: DriverName, datacenter: DatacenterObject | undefined): string {
  const entry = datacenter?.spec.images?.find((i) => i.name === image);
  if (!entry) {
    const raw = rawImagePath(image, driver);
    if (raw !== undefined && datacenter?.spec.imageStore.allowRawPaths !== true) {
      const where = datacenter ? `datacenter ${datacenter.metadata.name}` : "the host's datacenter";
      throw new TerminalError(`image ${image} is ${raw} outside the image catalog of ${where}: add it to spec.images, or set spec.imageStore.allowRawPaths`, { reason: "image-refused" });
    }
    return image;
  }
  const source = entry.sources[driver];
  if (source === undefined) {
    throw new TerminalError(`image ${image} of datacenter ${datacenter!.metadata.name} has no ${driver} source (spec.images[].sources.${driver})`, { reason: "image-missing" });
  }
  return source;
}

/** Catalog images named by the VM's disks (what placement must find a source for). */
export function catalogImages(vm: VmObject, datacenter: DatacenterObject | undefined): string[] {
  const catalog = new Set(datacenter?.spec.images?.map((i) => i.name) ?? []);
  return [...new Set((vm.spec.disks ?? []).flatMap((d) => (d.image !== undefined && catalog.has(d.image) ? [d.image] : [])))];
}

/** The spec handed to createVm / updateVm; `initialPower` is what createVm leaves the VM in. */
export function driverSpec(vm: VmObject, driver: DriverName, options: { datacenter?: DatacenterObject; cloudInit?: CloudInitData } = {}): VmSpec {
  const desired = vm.spec.powerState ?? "Running";
  const spec: VmSpec = {
    cpus: vm.spec.cpus ?? 1,
    memoryMiB: toMiB(vm.spec.memory),
    disks: (vm.spec.disks ?? []).map((d) => ({
      name: d.name,
      ...(d.image !== undefined ? { image: imageFor(d.image, driver, options.datacenter) } : {}),
      ...(d.size !== undefined ? { sizeGiB: toGiB(d.size) } : {}),
      ...(d.bus !== undefined ? { bus: d.bus } : {}),
      ...(d.bootOrder !== undefined ? { bootOrder: d.bootOrder } : {}),
    })),
    console: true,
    // Paused is reached from Running, so a VM that should be paused is created running first.
    power: powerTarget(vm, desired === "Stopped" ? "Stopped" : "Running"),
  };
  const nets = networks(vm, driver, options.datacenter);
  if (nets !== undefined) spec.networks = nets;
  if (options.cloudInit !== undefined) spec.cloudInit = options.cloudInit;
  return spec;
}
