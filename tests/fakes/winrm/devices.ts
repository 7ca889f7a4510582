// FAKE WinRM — the fake Hyper-V host's devices: VHDX files (New-VHD, Add-VMHardDiskDrive,
// Get-VMHardDiskDrive, Remove-Item) and network adapters on virtual switches
// (Get-/Add-/Remove-VMNetworkAdapter), with the addresses a running guest would report.
import type { FakeVm } from "./hyperv.ts";
import { PsError, type PsCommand, type PsValue, text } from "./powershell.ts";

export interface FakeAdapter {
  SwitchName: string | null;
  /** What the guest reports once running on a switch. */
  address: string;
}

export interface FakeVhd {
  sizeBytes: number;
  parentPath: string | null;
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

  adapter(switchName: string | null): FakeAdapter {
    this.addresses++;
    return { SwitchName: switchName, address: `10.1.${Math.floor(this.addresses / 250)}.${2 + (this.addresses % 250)}` };
  }

  networkAdapters(command: PsCommand, vms: FakeVm[], input: PsValue[]): PsValue[] {
    switch (command.name.toLowerCase()) {
      case "get-vmnetworkadapter":
        return vms.flatMap((vm) => vm.NetworkAdapters.map((a) => new AdapterRef(vm, a)));
      case "add-vmnetworkadapter":
        for (const vm of vms) vm.NetworkAdapters.push(this.adapter(command.params["switchname"] === undefined ? null : this.switchName("Add-VMNetworkAdapter", command.params["switchname"])));
        return [];
      default: // remove-vmnetworkadapter
        for (const ref of input.filter((x): x is AdapterRef => x instanceof AdapterRef)) ref.vm.NetworkAdapters = ref.vm.NetworkAdapters.filter((a) => a !== ref.adapter);
        return [];
    }
  }

  hardDrives(command: PsCommand, vms: FakeVm[]): PsValue[] {
    if (command.name.toLowerCase() === "get-vmharddiskdrive") {
      return vms.flatMap((vm) => vm.HardDrives.map((path, i) => ({ VMName: vm.Name, ControllerType: "SCSI", ControllerLocation: i, Path: path })));
    }
    const path = text(command.params["path"]);
    for (const vm of vms) {
      if (!this.files.has(path.toLowerCase())) throw new PsError("Add-VMHardDiskDrive", `Failed to add device 'Virtual Hard Disk'. The system cannot find the file specified. ('${path}')`, "ObjectNotFound", "ObjectNotFound");
      vm.HardDrives.push(path);
    }
    return [];
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
