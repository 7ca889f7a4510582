// FAKE WinRM — the fake Hyper-V host's devices: VHDX files (New-VHD, Add-VMHardDiskDrive,
// Get-VMHardDiskDrive, Remove-Item) and network adapters on virtual switches
// (Get-/Add-/Set-/Remove-VMNetworkAdapter, with static MACs), with the addresses a running guest
// would report; files written with Set-Content -Encoding Byte (an ISO) and DVD drives holding them
// (Add-/Get-VMDvdDrive); the firmware's boot order (Set-VMFirmware -BootOrder).
import type { FakeVm } from "./hyperv.ts";
import { PsError, type PsCommand, type PsValue, text } from "./powershell.ts";

export interface FakeAdapter {
  SwitchName: string | null;
  /** -StaticMacAddress, as Hyper-V shows it: 12 hex digits, upper case; null: dynamic. */
  StaticMacAddress: string | null;
  /** What the guest reports once running on a switch. */
  address: string;
}

export interface FakeVhd {
  sizeBytes: number;
  parentPath: string | null;
  /** A file written with Set-Content (not a VHDX): its bytes. */
  bytes?: Buffer;
}

/** A drive as Add-VMHardDiskDrive -Passthru / Get-VMDvdDrive return it. */
export interface FakeDrive {
  VMName: string;
  ControllerType: string;
  ControllerLocation: number;
  Path: string;
}

export class AdapterRef {
  readonly vm: FakeVm;
  readonly adapter: FakeAdapter;
  constructor(vm: FakeVm, adapter: FakeAdapter) {
    this.vm = vm;
    this.adapter = adapter;
  }
}

/** The virtual switches of the fake host. */
const switchNames = new Set(["Default Switch", "lab"]);

export class FakeDevices {
  /** The host's disk files by path (lower case, as NTFS compares them). */
  readonly files = new Map<string, FakeVhd>();
  readonly virtualHardDiskPath = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks";
  private addresses = 0;

  switchName(command: string, value: PsValue | undefined): string {
    const name = text(value);
    if (!switchNames.has(name)) throw new PsError(command, `Hyper-V was unable to find a virtual switch with name "${name}".`, "ObjectNotFound", "InvalidParameter");
    return name;
  }

  adapter(switchName: string | null, mac: PsValue = null): FakeAdapter {
    this.addresses++;
    return { SwitchName: switchName, StaticMacAddress: staticMac(mac), address: `10.1.${Math.floor(this.addresses / 250)}.${2 + (this.addresses % 250)}` };
  }

  networkAdapters(command: PsCommand, vms: FakeVm[], input: PsValue[]): PsValue[] {
    switch (command.name.toLowerCase()) {
      case "get-vmnetworkadapter":
        return vms.flatMap((vm) => vm.NetworkAdapters.map((a) => new AdapterRef(vm, a)));
      case "add-vmnetworkadapter":
        for (const vm of vms) {
          vm.NetworkAdapters.push(this.adapter(command.params["switchname"] === undefined ? null : this.switchName("Add-VMNetworkAdapter", command.params["switchname"]), command.params["staticmacaddress"] ?? null));
        }
        return [];
      case "set-vmnetworkadapter":
        for (const ref of input.filter((x): x is AdapterRef => x instanceof AdapterRef)) ref.adapter.StaticMacAddress = staticMac(command.params["staticmacaddress"] ?? null);
        return [];
      default: // remove-vmnetworkadapter
        for (const ref of input.filter((x): x is AdapterRef => x instanceof AdapterRef)) ref.vm.NetworkAdapters = ref.vm.NetworkAdapters.filter((a) => a !== ref.adapter);
        return [];
    }
  }

  hardDrives(command: PsCommand, vms: FakeVm[]): PsValue[] {
    const drive = (vm: FakeVm, path: string, i: number): FakeDrive => ({ VMName: vm.Name, ControllerType: "SCSI", ControllerLocation: i, Path: path });
    if (command.name.toLowerCase() === "get-vmharddiskdrive") return vms.flatMap((vm) => vm.HardDrives.map((path, i) => drive(vm, path, i)));
    const path = text(command.params["path"]);
    const type = text(command.params["controllertype"] ?? "SCSI");
    // generation 2 VMs have SCSI controllers only
    if (type.toUpperCase() !== "SCSI") throw new PsError("Add-VMHardDiskDrive", `A generation 2 virtual machine has no ${type} controller.`, "InvalidArgument", "InvalidParameter");
    const added: PsValue[] = [];
    for (const vm of vms) {
      if (!this.files.has(path.toLowerCase())) throw new PsError("Add-VMHardDiskDrive", `Failed to add device 'Virtual Hard Disk'. The system cannot find the file specified. ('${path}')`, "ObjectNotFound", "ObjectNotFound");
      vm.HardDrives.push(path);
      added.push(drive(vm, path, vm.HardDrives.length - 1));
    }
    return command.params["passthru"] === true ? added : [];
  }

  /** Add-VMDvdDrive -Path (the file must exist), Get-VMDvdDrive, and Set-VMFirmware -BootOrder (drives from variables). */
  dvdDrivesAndFirmware(command: PsCommand, vms: FakeVm[], variables: Map<string, PsValue[]>): PsValue[] {
    if (command.name.toLowerCase() === "set-vmfirmware") {
      const drives = [command.params["bootorder"] ?? []].flat().flatMap((v) => variables.get((v as { variable: string }).variable) ?? []);
      for (const vm of vms) vm.BootOrder = drives.map((d) => String((d as { Path: string }).Path));
      return [];
    }
    if (command.name.toLowerCase() === "get-vmdvddrive") {
      return vms.flatMap((vm) => vm.DvdDrives.map((path, i) => ({ VMName: vm.Name, ControllerType: "SCSI", ControllerLocation: vm.HardDrives.length + i, Path: path })));
    }
    const path = text(command.params["path"]);
    for (const vm of vms) {
      if (!this.files.has(path.toLowerCase())) throw new PsError("Add-VMDvdDrive", `Failed to add device 'DVD Drive'. The system cannot find the file specified. ('${path}')`, "ObjectNotFound", "ObjectNotFound");
      vm.DvdDrives.push(path);
    }
    return [];
  }

  /** Set-Content (Add-Content: append) -LiteralPath -Value <bytes> -Encoding Byte: a file of those bytes (an ISO). */
  setContent(p: Record<string, PsValue>, append: boolean): void {
    const path = text(p["literalpath"] ?? p["path"]);
    const value = p["value"];
    if (!Buffer.isBuffer(value) || text(p["encoding"]).toLowerCase() !== "byte") {
      throw new PsError("Set-Content", "FAKE Set-Content writes bytes only (-Value bytes -Encoding Byte).", "InvalidArgument", "InvalidParameter");
    }
    const before = append ? this.files.get(path.toLowerCase())?.bytes : undefined;
    const bytes = before === undefined ? value : Buffer.concat([before, value]);
    this.files.set(path.toLowerCase(), { sizeBytes: bytes.length, parentPath: null, bytes });
  }

  newVhd(p: Record<string, PsValue>): PsValue {
    const path = text(p["path"]);
    if (this.files.has(path.toLowerCase())) throw new PsError("New-VHD", `Failed to create the virtual hard disk. The file exists. ('${path}')`, "ResourceExists", "ResourceExists");
    const parentPath = p["parentpath"] === undefined ? null : text(p["parentpath"]);
    const parent = parentPath === null ? undefined : this.files.get(parentPath.toLowerCase());
    if (parentPath !== null && parent === undefined) throw new PsError("New-VHD", `Failed to create the virtual hard disk. The system cannot find the file specified. ('${parentPath}')`, "ObjectNotFound", "ObjectNotFound");
    const vhd: FakeVhd = { sizeBytes: parent?.sizeBytes ?? Number(p["sizebytes"] ?? 0), parentPath };
    this.files.set(path.toLowerCase(), vhd);
    return { Path: path, Size: vhd.sizeBytes, VhdType: parentPath === null ? 3 : 4 };
  }

  removeItems(paths: PsValue | undefined): void {
    for (const path of [paths].flat()) {
      if (!this.files.delete(text(path).toLowerCase())) throw new PsError("Remove-Item", `Cannot find path '${text(path)}' because it does not exist.`, "ObjectNotFound", "PathNotFound");
    }
  }

  /** An adapter as Get-VMNetworkAdapter shows it; a guest reports addresses only while running. */
  static plain(item: AdapterRef, running: boolean): PsValue {
    const { vm, adapter } = item;
    const up = running && adapter.SwitchName !== null;
    return { VMId: vm.Id, VMName: vm.Name, SwitchName: adapter.SwitchName, IPAddresses: up ? [adapter.address, `fe80::${adapter.address.split(".").join(":")}`] : [] };
  }
}

/** A MAC as -StaticMacAddress takes it (hex with or without separators) → Hyper-V's form, 12 upper-case hex digits. */
function staticMac(value: PsValue): string | null {
  if (value === null) return null;
  const hex = text(value).replace(/[-:]/g, "").toUpperCase();
  if (!/^[0-9A-F]{12}$/.test(hex)) throw new PsError("Set-VMNetworkAdapter", `'${text(value)}' is not a valid MAC address.`, "InvalidArgument", "InvalidParameter");
  return hex;
}
