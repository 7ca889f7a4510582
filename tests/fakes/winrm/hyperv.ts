// FAKE WinRM — an in-memory Hyper-V host and the cmdlets the driver runs against it: Get-VM
// (with its live CPUUsage and MemoryAssigned),
// New-VM, Set-VM, Start-VM, Stop-VM (-TurnOff / guest shutdown), Suspend-VM, Resume-VM,
// Remove-VM, Move-VM (to a peer fake host, ./migration.ts), Get-VMHost, Get-CimInstance
// (Win32_OperatingSystem, Win32_Processor, Msvm_MigrationJob), Invoke-CimMethod, Select-Object,
// ConvertTo-Json, Out-Null. State rules and error records follow Hyper-V's documented
// behaviour (VMState values, InvalidState errors); it is a fake, no VM runs.
import { randomUUID } from "node:crypto";
import { AdapterRef, type FakeAdapter, FakeDevices, type FakeVhd } from "./devices.ts";
import { FakeMigrations, JobRef } from "./migration.ts";
import { convertToJson, parse, PsError, type PsCommand, type PsValue, text } from "./powershell.ts";

export type { FakeAdapter, FakeVhd } from "./devices.ts";

/** Microsoft.HyperV.PowerShell.VMState: ConvertTo-Json writes the number. */
export const VMState = { Running: 2, Off: 3, Stopping: 4, Saved: 6, Paused: 9 } as const;

export interface FakeVm {
  Id: string;
  Name: string;
  State: number;
  ProcessorCount: number;
  MemoryStartup: number;
  Notes: string;
  Generation: number;
  DynamicMemoryEnabled: boolean;
  HardDrives: string[];
  /** ISO files in the VM's DVD drives. */
  DvdDrives: string[];
  /** Set-VMFirmware -BootOrder: the drives' paths, first boots first. */
  BootOrder: string[];
  NetworkAdapters: FakeAdapter[];
  /** When New-VM made it, as Windows PowerShell 5.1's ConvertTo-Json writes a DateTime: "/Date(<ms>)/". */
  CreationTime: string;
}

const GiB = 1024 ** 3;

/** Suspend-VM and Resume-VM: from one state to the other; already there is fine. */
const pauseTransitions: Record<string, { from: number; to: number } | undefined> = {
  "suspend-vm": { from: VMState.Running, to: VMState.Paused },
  "resume-vm": { from: VMState.Paused, to: VMState.Running },
};

class VmRef {
  readonly vm: FakeVm;
  constructor(vm: FakeVm) {
    this.vm = vm;
  }
}

export class FakeHyperV {
  readonly vms = new Map<string, FakeVm>();
  readonly devices = new FakeDevices();
  readonly cpus: number;
  readonly memoryBytes: number;
  /** The host's name, as Get-VMHost reports it and Move-VM -DestinationHost names it. */
  readonly computerName: string;
  /** Live migrations from this host (Move-VM, Msvm_MigrationJob); link a peer with `migrations.peers.set(name, other)`. */
  readonly migrations = new FakeMigrations(this);
  /** How long a guest takes to shut down when asked (it always obeys). */
  guestShutdownMs = 100;
  /** Guests that ignore the shutdown request: Stop-VM waits until something else turns the VM off. */
  guestsIgnoreShutdown = false;
  /** Memory Windows itself uses. */
  private readonly hostUsedBytes = 2 * GiB;
  /** Each VM's guest load per virtual processor (0..1), drawn when it is first seen up. */
  private readonly guestLoad = new Map<string, number>();

  /** The host's disk files by path (lower case). */
  get files(): Map<string, FakeVhd> {
    return this.devices.files;
  }

  get virtualHardDiskPath(): string {
    return this.devices.virtualHardDiskPath;
  }

  constructor(cpus = 16, memoryGiB = 64, computerName = "FAKE-HYPERV-1") {
    this.cpus = cpus;
    this.memoryBytes = memoryGiB * GiB;
    this.computerName = computerName;
  }

  /** A VM made by an administrator in Hyper-V Manager (no identity in its Notes). */
  addVm(name: string, state: number = VMState.Off): FakeVm {
    const vm: FakeVm = { Id: randomUUID(), Name: name, State: state, ProcessorCount: 1, MemoryStartup: 512 * 1024 ** 2, Notes: "", Generation: 2, DynamicMemoryEnabled: false, HardDrives: [], DvdDrives: [], BootOrder: [], NetworkAdapters: [], CreationTime: `/Date(${Date.now()})/` };
    vm.NetworkAdapters.push(this.devices.adapter(null));
    this.vms.set(vm.Id, vm);
    return vm;
  }

  /** Runs a script; returns stdout lines, throws PsError on the first (terminating) error. */
  async run(script: string): Promise<string[]> {
    const out: string[] = [];
    const variables = new Map<string, PsValue[]>();
    for (const statement of parse(script)) {
      if (statement.literal !== undefined) {
        variables.set(statement.assign!, [statement.literal]);
        continue;
      }
      let items: PsValue[] = statement.source === undefined ? [] : (variables.get(statement.source) ?? []);
      for (const command of statement.commands) items = await this.cmdlet(command, items, variables);
      if (statement.assign !== undefined) variables.set(statement.assign, items);
      else for (const item of items) out.push(typeof item === "string" ? item : String(convertToJson([this.plain(item)], false)));
    }
    return out;
  }

  private async cmdlet(command: PsCommand, input: PsValue[], variables: Map<string, PsValue[]>): Promise<PsValue[]> {
    const p = command.params;
    const vmsIn = (): FakeVm[] => {
      const fromVar = p["vm"] !== undefined ? (variables.get((p["vm"] as { variable: string }).variable) ?? []) : input;
      return fromVar.filter((x): x is VmRef => x instanceof VmRef).map((r) => this.live(command.name, r.vm));
    };
    const name = command.name.toLowerCase();
    const drives = this.driveCmdlet(command, vmsIn, variables);
    if (drives !== undefined) return drives;
    const pauses = pauseTransitions[name];
    if (pauses !== undefined) {
      for (const vm of vmsIn()) this.transition(command.name, vm, [pauses.from], pauses.to, pauses.to);
      return [];
    }
    if (name.endsWith("-vmnetworkadapter")) return this.devices.networkAdapters(command, name === "remove-vmnetworkadapter" ? [] : vmsIn(), input);
    switch (name) {
      case "get-vm":
        return this.getVm(p).map((vm) => new VmRef(vm));
      case "new-vm":
        return [new VmRef(this.newVm(p))];
      case "set-vm":
        for (const vm of vmsIn()) this.setVm(vm, p);
        return [];
      case "start-vm":
        for (const vm of vmsIn()) this.startVm(vm);
        return [];
      case "stop-vm":
        for (const vm of vmsIn()) await this.stopVm(vm, p["turnoff"] === true);
        return [];
      case "remove-vm":
        for (const vm of vmsIn()) {
          if (vm.State !== VMState.Off && vm.State !== VMState.Saved) throw invalidState("Remove-VM", vm);
          this.vms.delete(vm.Id);
        }
        return [];
      case "move-vm":
        for (const vm of vmsIn()) await this.migrations.moveVm(vm, p);
        return [];
      default:
        return this.utility(command, input);
    }
  }

  /** Disk and DVD drives and the firmware's boot order; undefined: not such a cmdlet. */
  private driveCmdlet(command: PsCommand, vms: () => FakeVm[], variables: Map<string, PsValue[]>): PsValue[] | undefined {
    const name = command.name.toLowerCase();
    if (name.endsWith("-vmharddiskdrive")) return this.devices.hardDrives(command, vms());
    if (name.endsWith("-vmdvddrive") || name === "set-vmfirmware") return this.devices.dvdDrivesAndFirmware(command, vms(), variables);
    return undefined;
  }

  /** The cmdlets that are not about one VM: host facts and pipeline formatting. */
  private utility(command: PsCommand, input: PsValue[]): PsValue[] {
    const p = command.params;
    switch (command.name.toLowerCase()) {
      case "get-vmhost":
        return [{ ComputerName: this.computerName, LogicalProcessorCount: this.cpus, MemoryCapacity: this.memoryBytes, VirtualMachinePath: "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V", VirtualHardDiskPath: this.virtualHardDiskPath }];
      case "new-vhd":
        return [this.devices.newVhd(p)];
      case "set-content":
      case "add-content":
        this.devices.setContent(p, command.name.toLowerCase() === "add-content");
        return [];
      case "remove-item":
        this.devices.removeItems(p["literalpath"]);
        return [];
      case "get-ciminstance":
        return this.cim(text(p["classname"]), text(p["namespace"]), p["filter"]);
      case "invoke-cimmethod":
        return this.migrations.invoke(text(p["methodname"]), p["arguments"], input.filter((x): x is JobRef => x instanceof JobRef));
      case "select-object":
        return input.map((item) => this.select(item, p["property"]));
      case "convertto-json": {
        const json = convertToJson(input.map((i) => this.plain(i)), p["compress"] === true);
        return json === undefined ? [] : [json];
      }
      case "out-null":
        return [];
      default:
        throw new PsError("", `The term '${command.name}' is not recognized as the name of a cmdlet, function, script file, or operable program.`, "ObjectNotFound", "CommandNotFoundException");
    }
  }

  private getVm(p: Record<string, PsValue>): FakeVm[] {
    if (p["id"] !== undefined) {
      const vm = this.vms.get(text(p["id"]).toLowerCase());
      if (vm === undefined) throw new PsError("Get-VM", `Hyper-V was unable to find a virtual machine with id "${text(p["id"])}".`, "InvalidArgument", "InvalidParameter");
      return [vm];
    }
    if (p["name"] !== undefined) {
      const found = [...this.vms.values()].filter((vm) => vm.Name.toLowerCase() === text(p["name"]).toLowerCase());
      if (found.length === 0) throw new PsError("Get-VM", `Hyper-V was unable to find a virtual machine with name "${text(p["name"])}".`, "InvalidArgument", "InvalidParameter");
      return found;
    }
    return [...this.vms.values()];
  }

  private newVm(p: Record<string, PsValue>): FakeVm {
    if (typeof p["name"] !== "string" || p["name"] === "") throw new PsError("New-VM", "Cannot validate argument on parameter 'Name'.", "InvalidData", "ParameterArgumentValidationError");
    const vm = this.addVm(p["name"]);
    if (p["memorystartupbytes"] !== undefined) vm.MemoryStartup = Number(p["memorystartupbytes"]);
    if (p["generation"] !== undefined) vm.Generation = Number(p["generation"]);
    if (p["switchname"] !== undefined) {
      try {
        vm.NetworkAdapters[0]!.SwitchName = this.devices.switchName("New-VM", p["switchname"]);
      } catch (err) {
        this.vms.delete(vm.Id);
        throw err;
      }
    }
    return vm;
  }

  private setVm(vm: FakeVm, p: Record<string, PsValue>): void {
    const resizing = p["processorcount"] !== undefined || p["memorystartupbytes"] !== undefined;
    if (resizing && vm.State !== VMState.Off) throw invalidState("Set-VM", vm);
    if (p["processorcount"] !== undefined) vm.ProcessorCount = Number(p["processorcount"]);
    if (p["memorystartupbytes"] !== undefined) vm.MemoryStartup = Number(p["memorystartupbytes"]);
    if (p["staticmemory"] === true) vm.DynamicMemoryEnabled = false;
    if (p["notes"] !== undefined) vm.Notes = text(p["notes"]);
  }

  private startVm(vm: FakeVm): void {
    if (vm.State === VMState.Running) return; // Hyper-V only warns
    if (vm.State !== VMState.Off && vm.State !== VMState.Saved) throw invalidState("Start-VM", vm);
    if (vm.MemoryStartup > this.freeBytes()) {
      throw new PsError("Start-VM", `'${vm.Name}' could not initialize. Not enough memory in the system to start the virtual machine ${vm.Name}.`, "NotSpecified", "OutOfMemory");
    }
    vm.State = VMState.Running;
  }

  private async stopVm(vm: FakeVm, turnOff: boolean): Promise<void> {
    if (vm.State === VMState.Off) return; // Hyper-V only warns
    if (turnOff) {
      vm.State = VMState.Off;
      return;
    }
    // A guest shutdown through the integration services: only a running guest can do it, and
    // Stop-VM returns once the guest is off.
    if (vm.State !== VMState.Running) throw invalidState("Stop-VM", vm);
    if (this.guestsIgnoreShutdown) {
      while (this.vms.get(vm.Id)?.State === VMState.Running) await new Promise((resolve) => setTimeout(resolve, 20));
      return;
    }
    vm.State = VMState.Stopping;
    await new Promise((resolve) => setTimeout(resolve, this.guestShutdownMs));
    if (vm.State === VMState.Stopping) vm.State = VMState.Off;
  }

  private transition(command: string, vm: FakeVm, from: number[], to: number, already: number): void {
    if (vm.State === already) return;
    if (!from.includes(vm.State)) throw invalidState(command, vm);
    vm.State = to;
  }

  private freeBytes(): number {
    let used = this.hostUsedBytes;
    for (const vm of this.vms.values()) if (vm.State !== VMState.Off && vm.State !== VMState.Saved) used += vm.MemoryStartup;
    return this.memoryBytes - used;
  }

  /** Hyper-V's classes are in root\virtualization\v2; Windows' own in the default root\cimv2. */
  private cim(className: string, namespace: string, filter: PsValue | undefined): PsValue[] {
    const virtualization = /^root[\\/]virtualization[\\/]v2$/i.test(namespace);
    if (className.toLowerCase() === "msvm_migrationjob" && virtualization) return this.migrations.query(filter);
    if (virtualization) throw new PsError("Get-CimInstance", `Invalid class "${className}"`, "MetadataError", "HRESULT 0x80041010");
    if (className === "Win32_OperatingSystem") {
      return [{ Caption: "Microsoft Windows Server 2022 Datacenter (FAKE)", Version: "10.0.20348", FreePhysicalMemory: Math.floor(this.freeBytes() / 1024), TotalVisibleMemorySize: Math.floor(this.memoryBytes / 1024) }];
    }
    if (className === "Win32_Processor") return [{ LoadPercentage: 7 }, { LoadPercentage: 9 }];
    throw new PsError("Get-CimInstance", `Invalid class "${className}"`, "MetadataError", "HRESULT 0x80041010");
  }

  /** The VM as it is now (a VmRef from an earlier statement may have been removed since). */
  private live(command: string, vm: FakeVm): FakeVm {
    const now = this.vms.get(vm.Id);
    if (now === undefined) throw new PsError(command, `Hyper-V was unable to find a virtual machine with id "${vm.Id}".`, "InvalidArgument", "InvalidParameter");
    return now;
  }

  /**
   * Get-VM's live figures as Hyper-V reports them: CPUUsage, an integer percent of the host's
   * logical processors (Msvm_SummaryInformation.ProcessorLoad), and MemoryAssigned, the bytes the
   * VM holds now — both 0 unless it is up; a paused VM uses no CPU. Each running virtual
   * processor of the fake idles at 2–12 % busy.
   */
  private liveFigures(vm: FakeVm): { CPUUsage: number; MemoryAssigned: number } {
    const up = vm.State === VMState.Running || vm.State === VMState.Paused;
    if (!up) return { CPUUsage: 0, MemoryAssigned: 0 };
    let load = this.guestLoad.get(vm.Id);
    if (load === undefined) this.guestLoad.set(vm.Id, (load = 0.02 + Math.random() * 0.1));
    const cpuUsage = vm.State === VMState.Running ? Math.round(((load * vm.ProcessorCount) / this.cpus) * 100) : 0;
    return { CPUUsage: cpuUsage, MemoryAssigned: vm.MemoryStartup };
  }

  private select(item: PsValue, properties: PsValue | undefined): PsValue {
    const source = this.plain(item) as Record<string, PsValue>;
    const names = (Array.isArray(properties) ? properties : [properties]).map(String);
    return Object.fromEntries(names.map((n) => [n, source[n] ?? null]));
  }

  private plain(item: PsValue): PsValue {
    if (item instanceof AdapterRef) return FakeDevices.plain(item, item.vm.State === VMState.Running);
    if (item instanceof JobRef) return { ...item.job };
    if (item instanceof VmRef) {
      const { NetworkAdapters: _adapters, DvdDrives: _dvds, BootOrder: _boot, ...vm } = item.vm;
      return { ...vm, ...this.liveFigures(item.vm) };
    }
    return item;
  }
}

function invalidState(command: string, vm: FakeVm): PsError {
  return new PsError(command, `'${vm.Name}' failed to change state. The operation cannot be performed while the object is in its current state.`, "InvalidOperation", "InvalidState");
}
