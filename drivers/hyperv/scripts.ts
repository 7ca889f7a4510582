// The PowerShell the driver runs on the Hyper-V host, one builder per step. Values only ever
// enter through psQuote / psInt (./powershell.ts). VMs are addressed by Id, never by name:
// Hyper-V allows two VMs with one name.
import { psInt, psQuote } from "./powershell.ts";
import { vmProperties } from "./records.ts";

const preamble = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n";
const selectVm = `Select-Object -Property ${vmProperties.join(",")} | ConvertTo-Json -Compress`;

/** Two JSON lines: the VMs, then their network adapters' addresses (absent when there are none). */
export function listVms(): string {
  return `${preamble}Get-VM | ${selectVm}\nGet-VM | Get-VMNetworkAdapter | Select-Object -Property VMId,IPAddresses | ConvertTo-Json -Compress`;
}

/** One VM by Id, as listVms prints it: the VM, then its adapters' addresses. Fails when there is no such VM. */
export function observeVm(id: string): string {
  const vm = `Get-VM -Id ${psQuote(id)}`;
  return `${preamble}${vm} | ${selectVm}\n${vm} | Get-VMNetworkAdapter | Select-Object -Property VMId,IPAddresses | ConvertTo-Json -Compress`;
}

/** Two JSON lines: the host's logical processors, then every VM's live CPUUsage and MemoryAssigned (absent when there is no VM). */
export function vmUsage(): string {
  return (
    preamble +
    "Get-VMHost | Select-Object -Property LogicalProcessorCount | ConvertTo-Json -Compress\n" +
    "Get-VM | Select-Object -Property Id,Name,State,Notes,CPUUsage,MemoryAssigned | ConvertTo-Json -Compress"
  );
}

/** Three JSON lines: the VM host, the operating system and the processors' load. */
export function observeHost(): string {
  return (
    preamble +
    "Get-VMHost | Select-Object -Property ComputerName,LogicalProcessorCount,MemoryCapacity | ConvertTo-Json -Compress\n" +
    "Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object -Property Caption,Version,FreePhysicalMemory,TotalVisibleMemorySize | ConvertTo-Json -Compress\n" +
    "Get-CimInstance -ClassName Win32_Processor | Select-Object -Property LoadPercentage | ConvertTo-Json -Compress"
  );
}

export interface NewDisk {
  /** Where the VHDX goes. */
  path: string;
  sizeBytes?: number;
  /** A parent VHDX (an image): the disk is a differencing disk on top of it. */
  parentPath?: string;
}

export interface NewVm {
  name: string;
  cpus: number;
  memoryBytes: number;
  /** Notes while the script runs (marked pending) and once it is done. */
  pendingNotes: string;
  notes: string;
  /** Virtual switches, one network adapter each; empty: no adapter at all. */
  switches: (string | undefined)[];
  /** Static MACs of those adapters (12 hex digits), by position; absent: dynamic. */
  macs?: (string | undefined)[];
  disks: NewDisk[];
  /** Indexes into disks, first boots first (Set-VMFirmware -BootOrder); absent: Hyper-V's default. */
  bootOrder?: number[];
  /** The cloud-init NoCloud seed (written beforehand: writeFileChunk) to put in a DVD drive. */
  seedPath?: string;
}

/**
 * A generation 2 VM, sized, labelled and with its disks; prints its Id (as JSON), so the session
 * finds it at once without listing every VM.
 * The identity goes in first, marked pending, and the final Notes last: a VM left half-made by a
 * failure or a crash is recognisable as such (see HyperVSession.create).
 */
export function createVm(vm: NewVm): string {
  // New-VM always adds one adapter: connected to the first switch, or to none.
  const first = vm.switches[0];
  const network = first === undefined ? "" : ` -SwitchName ${psQuote(first)}`;
  const mac = (i: number): string => (vm.macs?.[i] === undefined ? "" : ` -StaticMacAddress ${psQuote(vm.macs[i])}`);
  const firstMac = vm.switches.length > 0 && vm.macs?.[0] !== undefined ? `$vm | Get-VMNetworkAdapter | Set-VMNetworkAdapter${mac(0)}\n` : "";
  const adapters =
    vm.switches.length === 0
      ? "$vm | Get-VMNetworkAdapter | Remove-VMNetworkAdapter\n"
      : firstMac +
        vm.switches
          .slice(1)
          .map((s, i) => `Add-VMNetworkAdapter -VM $vm${s === undefined ? "" : ` -SwitchName ${psQuote(s)}`}${mac(i + 1)}\n`)
          .join("");
  const disks = vm.disks.map((d, i) => {
    const source = d.parentPath === undefined ? `-SizeBytes ${psInt(d.sizeBytes ?? 10 * 1024 ** 3)} -Dynamic` : `-ParentPath ${psQuote(d.parentPath)} -Differencing`;
    return `New-VHD -Path ${psQuote(d.path)} ${source} | Out-Null\n$disk${i} = Add-VMHardDiskDrive -VM $vm -Path ${psQuote(d.path)} -Passthru\n`;
  });
  const boot = vm.bootOrder === undefined || vm.bootOrder.length === 0 ? "" : `Set-VMFirmware -VM $vm -BootOrder ${vm.bootOrder.map((i) => `$disk${psInt(i)}`).join(",")}\n`;
  const seed = vm.seedPath === undefined ? "" : `Add-VMDvdDrive -VM $vm -Path ${psQuote(vm.seedPath)}\n`;
  return (
    preamble +
    `$vm = New-VM -Name ${psQuote(vm.name)} -MemoryStartupBytes ${psInt(vm.memoryBytes)} -Generation 2 -NoVHD${network}\n` +
    `$vm | Set-VM -ProcessorCount ${psInt(vm.cpus)} -StaticMemory -Notes ${psQuote(vm.pendingNotes)}\n` +
    adapters +
    disks.join("") +
    boot +
    seed +
    `$vm | Set-VM -Notes ${psQuote(vm.notes)}\n` +
    "$vm | Select-Object -Property Id | ConvertTo-Json -Compress"
  );
}

/**
 * Bytes a file on the host gets: the first chunk replaces it, the others append. They travel
 * base64 inside the script (no file share to the host needed), so a chunk is at most
 * fileChunkBytes: the script goes as -EncodedCommand (UTF-16LE, base64 again) on a command line
 * Windows caps at 32767 characters.
 */
export function writeFileChunk(path: string, bytes: Buffer, append: boolean): string {
  return `${preamble}${append ? "Add-Content" : "Set-Content"} -LiteralPath ${psQuote(path)} -Value ([Convert]::FromBase64String(${psQuote(bytes.toString("base64"))})) -Encoding Byte`;
}

/** 6 KiB: 8 Ki base64 characters, ~22 Ki once encoded for the command line. */
export const fileChunkBytes = 6 * 1024;

/** The paths of a VM's disks, as JSON. */
export function listDisks(id: string): string {
  return `${preamble}Get-VM -Id ${psQuote(id)} | Get-VMHardDiskDrive | Select-Object -Property Path | ConvertTo-Json -Compress`;
}

/** The paths of the files in a VM's DVD drives (the cloud-init seed), as JSON. */
export function listDvds(id: string): string {
  return `${preamble}Get-VM -Id ${psQuote(id)} | Get-VMDvdDrive | Select-Object -Property Path | ConvertTo-Json -Compress`;
}

export function removeFiles(paths: string[]): string {
  return `${preamble}Remove-Item -LiteralPath ${paths.map(psQuote).join(",")} -Force`;
}

/** Facts connect() needs: the host's name and its default folder for virtual disks. */
export function hostFacts(): string {
  return `${preamble}Get-VMHost | Select-Object -Property ComputerName,VirtualHardDiskPath | ConvertTo-Json -Compress`;
}

export function resizeVm(id: string, cpus: number, memoryBytes: number): string {
  return `${preamble}Get-VM -Id ${psQuote(id)} | Set-VM -ProcessorCount ${psInt(cpus)} -MemoryStartupBytes ${psInt(memoryBytes)}`;
}

export type PowerStep = "start" | "turn-off" | "shut-down" | "suspend" | "resume" | "remove";

const stepCommands: Record<PowerStep, string> = {
  start: "Start-VM",
  // -Force: no confirmation prompt (there is nobody to answer it).
  "turn-off": "Stop-VM -TurnOff -Force",
  "shut-down": "Stop-VM -Force",
  suspend: "Suspend-VM",
  resume: "Resume-VM",
  remove: "Remove-VM -Force",
};

export function power(id: string, step: PowerStep): string {
  return `${preamble}Get-VM -Id ${psQuote(id)} | ${stepCommands[step]}`;
}

/**
 * Shared-nothing live migration: the VM with its storage to another Hyper-V host, into that
 * host's default VM folder. The target must trust this host for migration (Kerberos constrained
 * delegation or CredSSP) — set up outside the driver.
 */
export function moveVm(id: string, destinationHost: string, storagePath: string): string {
  return `${preamble}Get-VM -Id ${psQuote(id)} | Move-VM -DestinationHost ${psQuote(destinationHost)} -IncludeStorage -DestinationStoragePath ${psQuote(storagePath)}`;
}

/** The virtual system migration service's jobs (namespace root\virtualization\v2), by one WQL equality. */
function migrationJobs(property: "VirtualSystemName" | "InstanceID", value: string): string {
  return `Get-CimInstance -Namespace 'root/virtualization/v2' -ClassName 'Msvm_MigrationJob' -Filter ${psQuote(`${property}='${value.replace(/'/g, "")}'`)}`;
}

/** The VM's migration jobs (running ones, and finished ones Hyper-V still keeps), as JSON. */
export function listMigrationJobs(id: string): string {
  return `${preamble}${migrationJobs("VirtualSystemName", id)} | Select-Object -Property InstanceID,JobState,PercentComplete,Cancellable,DestinationHost,ErrorDescription | ConvertTo-Json -Compress`;
}

/** Terminates (RequestedState 4) one migration job; prints RequestStateChange's return value. */
export function cancelMigrationJob(instanceId: string): string {
  return `${preamble}${migrationJobs("InstanceID", instanceId)} | Invoke-CimMethod -MethodName 'RequestStateChange' -Arguments @{RequestedState=4} | Select-Object -Property ReturnValue | ConvertTo-Json -Compress`;
}
