// VmSpec → VirtualMachineConfigSpec. Fields follow the vim25 WSDL's sequence order. Identity goes
// into extraConfig (the same io.omnivisor.* keys every driver uses), which survives host
// restarts, re-registration and is visible to admins in the VM's advanced settings.
import { vmxPath } from "./vm-files.ts";
import { identityMetadata, NotFoundError, TerminalError, type DiskBus, type NicModel, type VmIdentity, type VmSpec } from "../contract/index.ts";
import type { Arg, MoRef } from "./vim25/encode.ts";

/** The guest OS id ESX uses for VMs whose guest it does not know. */
const guestId = "otherGuest64";
/** Port group of a NIC when the spec names none (ESXi's default). */
export const defaultNetwork = "VM Network";

/**
 * The controller each bus maps to (virtio: VMware's paravirtual SCSI, its nearest equivalent;
 * scsi: LSI Logic SAS). IDE uses the VM's built-in IDE controller 0 (key 200), which every ESX VM
 * has; the others are added when a disk needs them.
 */
export const controllers: Record<DiskBus, { type: string; key: number; busNumber: number; maxUnits: number }> = {
  virtio: { type: "ParaVirtualSCSIController", key: -100, busNumber: 0, maxUnits: 15 },
  scsi: { type: "VirtualLsiLogicSASController", key: -101, busNumber: 1, maxUnits: 15 },
  sata: { type: "VirtualAHCIController", key: -102, busNumber: 0, maxUnits: 30 },
  ide: { type: "VirtualIDEController", key: 200, busNumber: 0, maxUnits: 2 },
};

/** The NIC device type each model maps to (virtio: vmxnet3, the paravirtual NIC). */
export const nicDevices: Partial<Record<NicModel, string>> = { virtio: "VirtualVmxnet3", vmxnet3: "VirtualVmxnet3", e1000: "VirtualE1000" };

/** Where each spec disk goes: its bus's controller and the next free unit on it (SCSI unit 7 is the controller). */
export function diskSlots(spec: VmSpec): { bus: DiskBus; unitNumber: number }[] {
  const used = new Map<DiskBus, number>();
  return spec.disks.map((d) => {
    const bus = d.bus ?? "virtio";
    let unit = used.get(bus) ?? 0;
    if ((bus === "virtio" || bus === "scsi") && unit === 7) unit++;
    if (unit >= controllers[bus].maxUnits) throw new TerminalError(`disk ${d.name}: no free unit on the ${bus} controller`, { reason: "unsupported-device" });
    used.set(bus, unit + 1);
    return { bus, unitNumber: unit };
  });
}

/** ESX wants memory in multiples of 4 MiB. */
export function esxMemoryMiB(memoryMiB: number): number {
  return Math.ceil(memoryMiB / 4) * 4;
}

function disks(spec: VmSpec, copies: Map<string, string>): Arg[] {
  const slots = diskSlots(spec);
  return spec.disks.map((d, i) => {
    const slot = slots[i]!;
    // A disk from an image is a copy made beforehand (./images.ts), attached as it is.
    const copy = copies.get(d.name);
    return {
      operation: "add",
      fileOperation: copy ? undefined : "create",
      device: {
        $type: "VirtualDisk",
        key: -1 - i,
        backing: { $type: "VirtualDiskFlatVer2BackingInfo", fileName: copy ?? "", diskMode: "persistent", thinProvisioned: true },
        controllerKey: controllers[slot.bus].key,
        unitNumber: slot.unitNumber,
        capacityInKB: Math.max(1, Math.round((d.sizeGiB ?? 1) * 1024 * 1024)),
      },
    };
  });
}

function nics(spec: VmSpec, networks: Map<string, MoRef>): Arg[] {
  const wanted = spec.networks ?? [{ name: "default", network: defaultNetwork }];
  return wanted.map((n, i) => {
    const portGroup = n.network ?? n.bridge ?? defaultNetwork;
    const network = networks.get(portGroup);
    if (!network) throw new NotFoundError(`network ${n.name}: port group "${portGroup}" does not exist on this host`, { reason: "network-missing" });
    const type = nicDevices[n.model ?? "virtio"];
    if (!type) throw new TerminalError(`network ${n.name}: ESXi has no ${n.model} NIC (it takes e1000, vmxnet3)`, { reason: "unsupported-device" });
    return {
      operation: "add",
      device: {
        $type: type,
        key: -200 - i,
        backing: { $type: "VirtualEthernetCardNetworkBackingInfo", deviceName: portGroup, network },
        connectable: { startConnected: true, allowGuestControl: true, connected: true },
        // a fixed MAC is "manual" (real ESXi takes manual MACs in 00:50:56:00:00:00–3f:ff:ff)
        ...(n.macAddress !== undefined ? { addressType: "manual", macAddress: n.macAddress } : { addressType: "generated" }),
      },
    };
  });
}

export interface Placement {
  datastore: string;
  networks: Map<string, MoRef>;
  /** Disk name → VMDK copied from its image. */
  copies: Map<string, string>;
}

/** cloud-init's VMware datasource reads guestinfo.userdata (+ .encoding) and guestinfo.metadata from extraConfig. */
function guestinfo(identity: VmIdentity, spec: VmSpec): Record<string, string> {
  const data = spec.cloudInit;
  if (!data) return {};
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  const metadata = `instance-id: ${identity.uid}\nlocal-hostname: ${identity.kubeName ?? identity.name}\n${data.networkConfig !== undefined ? `network: ${JSON.stringify(b64(data.networkConfig))}\nnetwork.encoding: base64\n` : ""}`;
  return {
    "guestinfo.userdata": b64(data.userData),
    "guestinfo.userdata.encoding": "base64",
    "guestinfo.metadata": b64(metadata),
    "guestinfo.metadata.encoding": "base64",
  };
}

export function createSpec(identity: VmIdentity, spec: VmSpec, where: Placement): Arg {
  const buses = new Set(diskSlots(spec).map((s) => s.bus));
  const controller = [...buses]
    .filter((bus) => bus !== "ide")
    .map((bus) => {
      const c = controllers[bus];
      const scsi = bus === "virtio" || bus === "scsi" ? { sharedBus: "noSharing" } : {};
      return { operation: "add", device: { $type: c.type, key: c.key, busNumber: c.busNumber, ...scsi } };
    });
  return {
    name: identity.name,
    guestId,
    // the exact .vmx path: a second create of it fails (FileAlreadyExists) instead of making a second VM (vm-files.ts)
    files: { vmPathName: vmxPath(where.datastore, identity.name) },
    numCPUs: spec.cpus,
    memoryMB: esxMemoryMiB(spec.memoryMiB),
    deviceChange: [...controller, ...disks(spec, where.copies), ...nics(spec, where.networks)],
    extraConfig: Object.entries({ ...identityMetadata(identity), ...guestinfo(identity, spec) }).map(([key, value]) => ({ $type: "OptionValue", key, value: { $type: "xsd:string", $text: value } })),
  };
}

export function resizeSpec(spec: VmSpec): Arg {
  return { numCPUs: spec.cpus, memoryMB: esxMemoryMiB(spec.memoryMiB) };
}

/** A device as config.hardware.device lists it (the fields boot order needs). */
export interface EsxDevice {
  type: string;
  key: number;
  controllerKey?: number;
  unitNumber?: number;
  busNumber?: number;
}

/**
 * bootOptions for the spec's boot order, once the VM exists: ESX gives devices their keys at
 * create, so the disks are found by controller (type, bus number) and unit. Undefined: no disk
 * has a boot order.
 */
export function bootOrderSpec(spec: VmSpec, devices: EsxDevice[]): Arg | undefined {
  if (!spec.disks.some((d) => d.bootOrder !== undefined)) return undefined;
  const slots = diskSlots(spec);
  const keyOf = (i: number): number => {
    const c = controllers[slots[i]!.bus];
    const controller = devices.find((d) => d.type === c.type && d.busNumber === c.busNumber);
    const disk = devices.find((d) => d.type === "VirtualDisk" && d.controllerKey === controller?.key && d.unitNumber === slots[i]!.unitNumber);
    if (!disk) throw new TerminalError(`disk ${spec.disks[i]!.name} is not on the VM after create`, { reason: "device-missing" });
    return disk.key;
  };
  const ordered = spec.disks
    .map((d, i) => ({ order: d.bootOrder, i }))
    .filter((d): d is { order: number; i: number } => d.order !== undefined)
    .sort((a, b) => a.order - b.order);
  return { bootOrder: ordered.map((d) => ({ $type: "VirtualMachineBootOptionsBootableDiskDevice", deviceKey: keyOf(d.i) })) };
}
