// Lookups by uid for one Hyper-V session, without a Get-VM of every VM per call. Hyper-V offers
// no change feed over WinRM, so the per-session index (uid → VM Id, ../lookup/uid-index.ts) is
// fed by the Get-VM listings the session makes anyway — watch()'s poll, listVms, createVm — and
// by this session's own creates and deletes. A lookup is then one `Get-VM -Id` (one VM, with its
// adapters), checked against the uid in its Notes.
// What the index costs: nothing beyond the listings the watch already pays for (one per poll
// interval) and a map of uid → Id (a few dozen bytes per VM). What it cannot know: a VM given
// our uid outside this session since the last listing — so a miss is believed only while the
// last listing is younger than the poll interval; an older one costs one listing (which then
// serves the misses of the next interval). createVm always lists (its pending and name checks),
// so a create stays idempotent by uid whatever the index holds.
import { isDriverError, type VmObservation } from "../contract/index.ts";
import { lookupByUid, UidIndex } from "../lookup/uid-index.ts";
import { addressesByVm, type AdapterJson, jsonList, observation, vmId, type VmJson } from "./records.ts";
import type { RemotePowerShell } from "./remote-powershell.ts";
import * as scripts from "./scripts.ts";

/** Numbers a read when it starts (as listings are numbered) and reports what it found. */
export interface SawOne {
  starting(): (id: string, vm: VmObservation | undefined) => void;
}

export class VmLookups {
  private readonly ps: RemotePowerShell;
  private readonly index: UidIndex;
  private readonly signal: AbortSignal;
  private readonly listAll: () => Promise<VmObservation[]>;
  private readonly sawOne: SawOne;

  /**
   * `listAll` is the session's Get-VM listing (it calls listed() with what it saw); `sawOne` hears
   * of every VM read alone, so the session's watches see those reads as they see listings.
   */
  constructor(ps: RemotePowerShell, options: { pollIntervalMs: number; signal: AbortSignal; listAll: () => Promise<VmObservation[]>; sawOne: SawOne }) {
    this.ps = ps;
    this.index = new UidIndex({ trustMissesForMs: options.pollIntervalMs });
    this.signal = options.signal;
    this.listAll = options.listAll;
    this.sawOne = options.sawOne;
  }

  find(uid: string): Promise<VmObservation | undefined> {
    return lookupByUid(this.index, uid, {
      refresh: () => Promise.resolve(),
      read: (id) => this.read(id),
      uidOf: (vm) => vm.identity?.uid,
      list: async (wanted) => (await this.listAll()).find((vm) => vm.identity?.uid === wanted),
    });
  }

  /** One VM by Id (Get-VM -Id); undefined when Hyper-V has none. */
  async read(id: string): Promise<VmObservation | undefined> {
    const done = this.sawOne.starting();
    let found: VmObservation | undefined;
    try {
      const [vmLine, adapterLine] = (await this.ps.run("observe VM", scripts.observeVm(id), this.signal)).split(/\r?\n/).filter((l) => l.trim() !== "");
      const vm = jsonList<VmJson>(vmLine ?? "")[0];
      found = vm === undefined ? undefined : observation(vm, addressesByVm(jsonList<AdapterJson>(adapterLine ?? "")).get(vmId(vm)));
    } catch (err) {
      if (!(isDriverError(err) && err.kind === "not-found")) throw err;
    }
    done(id, found);
    return found;
  }

  /** A complete Get-VM listing (it may have started before this session's last create: merged, not replaced). */
  listed(vms: VmObservation[]): void {
    this.index.merge(vms.map((vm) => [vm.externalId, vm.identity?.uid] as const));
  }

  created(id: string, uid: string): void {
    this.index.put(id, uid);
  }

  deleted(id: string): void {
    this.index.remove(id);
  }
}
