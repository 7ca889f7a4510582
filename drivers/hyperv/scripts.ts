// The PowerShell the driver runs on the Hyper-V host, one builder per step. Values only ever
// enter through psQuote / psInt (./powershell.ts). VMs are addressed by Id, never by name:
// Hyper-V allows two VMs with one name.
import { psInt, psQuote } from "./powershell.ts";
import { vmProperties } from "./records.ts";

const preamble = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n";
const selectVm = `Select-Object -Property ${vmProperties.join(",")} | ConvertTo-Json -Compress`;

export function listVms(): string {
  return `${preamble}Get-VM | ${selectVm}`;
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

export interface NewVm {
  name: string;
  cpus: number;
  memoryBytes: number;
  notes: string;
  switchName?: string;
}

/** A generation 2 VM without disks, sized and labelled; prints nothing (the next list shows it). */
export function createVm(vm: NewVm): string {
  const network = vm.switchName === undefined ? "" : ` -SwitchName ${psQuote(vm.switchName)}`;
  return (
    preamble +
    `$vm = New-VM -Name ${psQuote(vm.name)} -MemoryStartupBytes ${psInt(vm.memoryBytes)} -Generation 2 -NoVHD${network}\n` +
    `$vm | Set-VM -ProcessorCount ${psInt(vm.cpus)} -StaticMemory -Notes ${psQuote(vm.notes)}`
  );
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
