// VmSpec → VirtualMachineConfigSpec. Fields follow the vim25 WSDL's sequence order. Identity goes
// into extraConfig (the same io.omnivisor.* keys every driver uses), which survives host
// restarts, re-registration and is visible to admins in the VM's advanced settings.
import { identityMetadata, NotFoundError, type VmIdentity, type VmSpec } from "../contract/index.ts";
import type { Arg, MoRef } from "./vim25/encode.ts";

/** The guest OS id ESX uses for VMs whose guest it does not know. */
const guestId = "otherGuest64";
/** Port group of a NIC when the spec names none (ESXi's default). */
export const defaultNetwork = "VM Network";

const scsiKey = -100;

/** ESX wants memory in multiples of 4 MiB. */
export function esxMemoryMiB(memoryMiB: number): number {
  return Math.ceil(memoryMiB / 4) * 4;
}

function disks(spec: VmSpec, copies: Map<string, string>): Arg[] {
  return spec.disks.map((d, i) => {
    // A disk from an image is a copy made beforehand (./images.ts), attached as it is.
    const copy = copies.get(d.name);
    return {
      operation: "add",
      fileOperation: copy ? undefined : "create",
      device: {
        $type: "VirtualDisk",
        key: -1 - i,
        backing: { $type: "VirtualDiskFlatVer2BackingInfo", fileName: copy ?? "", diskMode: "persistent", thinProvisioned: true },
        controllerKey: scsiKey,
        unitNumber: i >= 7 ? i + 1 : i, // unit 7 is the controller itself
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
    return {
      operation: "add",
      device: {
        $type: "VirtualVmxnet3",
        key: -200 - i,
        backing: { $type: "VirtualEthernetCardNetworkBackingInfo", deviceName: portGroup, network },
        connectable: { startConnected: true, allowGuestControl: true, connected: true },
        addressType: "generated",
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

export function createSpec(identity: VmIdentity, spec: VmSpec, where: Placement): Arg {
  const controller = spec.disks.length
    ? [{ operation: "add", device: { $type: "ParaVirtualSCSIController", key: scsiKey, busNumber: 0, sharedBus: "noSharing" } }]
    : [];
  return {
    name: identity.name,
    guestId,
    files: { vmPathName: `[${where.datastore}]` },
    numCPUs: spec.cpus,
    memoryMB: esxMemoryMiB(spec.memoryMiB),
    deviceChange: [...controller, ...disks(spec, where.copies), ...nics(spec, where.networks)],
    extraConfig: Object.entries(identityMetadata(identity)).map(([key, value]) => ({ $type: "OptionValue", key, value: { $type: "xsd:string", $text: value } })),
  };
}

export function resizeSpec(spec: VmSpec): Arg {
  return { numCPUs: spec.cpus, memoryMB: esxMemoryMiB(spec.memoryMiB) };
}
