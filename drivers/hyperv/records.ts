// Hyper-V VM objects (Get-VM | Select-Object … | ConvertTo-Json) as contract data. The identity
// lives in the VM's Notes, on one line: `omnivisor: {"io.omnivisor.uid":"…",…}` — the rest of
// the Notes stays free for people.
import { identityFromMetadata, identityMetadata, type ObservedPower, type VmIdentity, type VmObservation } from "../contract/index.ts";

/** The properties the driver selects from Get-VM. */
export const vmProperties = ["Id", "Name", "State", "ProcessorCount", "MemoryStartup", "Notes", "CreationTime"] as const;

export interface VmJson {
  /** A Guid: a string, or {"Guid": "…"} / {"value": "…"} depending on the PowerShell version. */
  Id: unknown;
  Name: string;
  /** VMState: a number (ConvertTo-Json writes enums as numbers) or its name. */
  State: number | string;
  ProcessorCount: number;
  MemoryStartup: number;
  Notes: string | null;
  /** When the VM was made: "/Date(<ms>)/" (Windows PowerShell 5.1) or an ISO 8601 string (PowerShell 7). */
  CreationTime?: unknown;
}

/** When the VM was made, in ms since the epoch (the host's clock); undefined when the host did not say. */
export function createdAtMs(vm: VmJson): number | undefined {
  const value = vm.CreationTime;
  if (typeof value !== "string") return undefined;
  const legacy = /^\/Date\((-?\d+)[^)]*\)\/$/.exec(value);
  const ms = legacy ? Number(legacy[1]) : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

const notesPrefix = "omnivisor:";

/** Microsoft.HyperV.PowerShell.VMState values and names, as the contract's power. */
const states: Record<string, ObservedPower> = {
  "2": "Running", Running: "Running",
  "3": "Stopped", Off: "Stopped",
  "4": "Running", Stopping: "Running",
  "6": "Stopped", Saved: "Stopped",
  "9": "Paused", Paused: "Paused",
  "10": "Running", Starting: "Running",
  "11": "Running", Reset: "Running",
  "32773": "Running", Saving: "Running",
  "32776": "Running", Pausing: "Running",
  "32777": "Paused", Resuming: "Paused",
  "32779": "Stopped", FastSaved: "Stopped",
  "32780": "Running", FastSaving: "Running",
};

export function powerOf(state: number | string): ObservedPower {
  return states[String(state)] ?? "Unknown";
}

/** The raw state name: Off, Running, Paused, Saved, ... */
export function stateName(state: number | string): string {
  const names: Record<string, string> = { "2": "Running", "3": "Off", "4": "Stopping", "6": "Saved", "9": "Paused", "10": "Starting", "32779": "FastSaved" };
  return names[String(state)] ?? String(state);
}

export function vmId(vm: VmJson): string {
  const id = vm.Id as string | { Guid?: string; value?: string } | null;
  if (typeof id === "string") return id.toLowerCase();
  return String(id?.Guid ?? id?.value ?? "").toLowerCase();
}

/** The key that marks a VM whose create has not finished (its disks may be missing). */
const pendingKey = "io.omnivisor.pending";

/** Who is making a VM, and since when (this machine's clock): what the pending mark holds. */
export interface PendingMark {
  owner: string;
  sinceMs: number;
}

/** The Notes line with the identity; with `pending` (who makes it, since when) while the create script still runs. */
export function notesWithIdentity(identity: VmIdentity, pending?: PendingMark): string {
  const meta = identityMetadata(identity);
  if (pending) meta[pendingKey] = `${pending.owner} ${pending.sinceMs}`;
  return `${notesPrefix} ${JSON.stringify(meta)}`;
}

/** Whether a VM's create has not finished: still running, or left half-made by a failure or a crash. */
export function isPending(vm: VmJson): boolean {
  return metadataFromNotes(vm.Notes)?.[pendingKey] !== undefined;
}

/** The pending mark of a VM whose create has not finished (an old "true" mark: owner unknown, long ago). */
export function pendingMark(vm: VmJson): PendingMark | undefined {
  const value = metadataFromNotes(vm.Notes)?.[pendingKey];
  if (value === undefined) return undefined;
  const [owner, since] = value.split(" ");
  return { owner: owner ?? "", sinceMs: Number(since) || 0 };
}

export function metadataFromNotes(notes: string | null): Record<string, string> | undefined {
  const line = (notes ?? "").split(/\r?\n/).find((l) => l.startsWith(notesPrefix));
  if (line === undefined) return undefined;
  try {
    const parsed = JSON.parse(line.slice(notesPrefix.length)) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, string>) : undefined;
  } catch {
    return undefined; // someone edited the line by hand: treat the VM as unmanaged
  }
}

export interface AdapterJson {
  VMId: unknown;
  IPAddresses: string[] | null;
}

/** Addresses by VM id, from Get-VMNetworkAdapter (the guest's integration services report them). */
export function addressesByVm(adapters: AdapterJson[]): Map<string, string[]> {
  const byVm = new Map<string, string[]>();
  for (const a of adapters) {
    const id = vmId({ Id: a.VMId } as VmJson);
    byVm.set(id, [...(byVm.get(id) ?? []), ...(a.IPAddresses ?? [])]);
  }
  return byVm;
}

export function observation(vm: VmJson, addresses: string[] = []): VmObservation {
  const id = vmId(vm);
  const identity = identityFromMetadata(metadataFromNotes(vm.Notes), vm.Name, id);
  const observed: VmObservation = {
    externalId: id,
    name: vm.Name,
    managed: identity !== undefined,
    power: powerOf(vm.State),
    cpus: Number(vm.ProcessorCount),
    memoryMiB: Math.round(Number(vm.MemoryStartup) / 1024 ** 2),
    // IPv4 first: what people and health checks usually want.
    addresses: [...addresses.filter((a) => !a.includes(":")), ...addresses.filter((a) => a.includes(":"))],
  };
  if (identity !== undefined) observed.identity = identity;
  return observed;
}

/** ConvertTo-Json writes one object for one input, an array for several and nothing for none. */
export function jsonList<T>(output: string): T[] {
  const text = output.trim();
  if (text === "") return [];
  const parsed = JSON.parse(text) as T | T[];
  return Array.isArray(parsed) ? parsed : [parsed];
}
