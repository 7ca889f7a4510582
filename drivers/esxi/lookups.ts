// Lookups by uid for one ESXi session, without reading every VM per call. A per-session index
// (uid → VM moref, ../lookup/uid-index.ts) is kept by a private PropertyCollector filter over the
// VMs' extraConfig (where the uid lives): its first WaitForUpdatesEx is the baseline, and before
// every lookup one WaitForUpdatesEx with maxWaitSeconds 0 applies what changed since (it answers
// at once; nothing, most of the time). A lookup then costs that drain plus one
// RetrievePropertiesEx of one moref, whatever the number of VMs — and sees every change the host
// committed before it started (a VM made by another session or by the host client included), so
// creates stay idempotent by uid. A moref found gone (ManagedObjectNotFound, or no properties) is
// dropped and the host listed once. A re-login orphans the collector: the index is rebuilt.
import type { VmObservation } from "../contract/index.ts";
import { identityKeys } from "../contract/index.ts";
import { Drain } from "../lookup/drain.ts";
import { lookupByUid, UidIndex } from "../lookup/uid-index.ts";
import { extraConfig, readVm, readVms } from "./observe.ts";
import type { VimClient } from "./vim25/client.ts";
import { moRef, type MoRef } from "./vim25/encode.ts";
import { VimFault } from "./vim25/faults.ts";
import { ChangeFeed, filterSpec, type ObjectUpdate } from "./vim25/property-collector.ts";

const indexedPaths = ["config.extraConfig"];

export class VmLookups {
  readonly #client: VimClient;
  readonly #datacenter: MoRef;
  readonly #index = new UidIndex();
  readonly #drain = new Drain(() => this.#drainOnce());
  readonly #unsubscribe: () => void;
  #feed: ChangeFeed | undefined;
  /** The session was renewed: the collector behind #feed is gone with the old one. */
  #renewed = false;

  constructor(client: VimClient, datacenter: MoRef) {
    this.#client = client;
    this.#datacenter = datacenter;
    this.#unsubscribe = client.onRenewed(() => (this.#renewed = true));
  }

  find(uid: string): Promise<VmObservation | undefined> {
    return lookupByUid(this.#index, uid, {
      refresh: () => this.#drain.run(),
      read: (ref) => readVm(this.#client, moRef("VirtualMachine", ref)),
      uidOf: (vm) => vm.identity?.uid,
      list: async (wanted) => {
        const vms = await readVms(this.#client, this.#datacenter);
        this.#index.merge(vms.map((vm) => [vm.externalId, vm.identity?.uid] as const));
        return vms.find((vm) => vm.identity?.uid === wanted);
      },
    });
  }

  /** This session made a VM: it is found at once, before the feed reports it. */
  created(externalId: string, uid: string): void {
    this.#index.put(externalId, uid);
  }

  deleted(externalId: string): void {
    this.#index.remove(externalId);
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    const feed = this.#feed;
    this.#feed = undefined;
    await feed?.close();
  }

  async #drainOnce(): Promise<void> {
    if (this.#renewed) {
      this.#renewed = false;
      await this.#restart();
    }
    if (this.#feed === undefined) {
      this.#feed = await ChangeFeed.open(this.#client, filterSpec("VirtualMachine", indexedPaths, { vmsOf: this.#datacenter }));
      const baseline = await this.#feed.next(0);
      this.#index.reset(baseline.updates.filter((u) => u.kind !== "leave").map((u) => [u.obj.value, uidIn(u)] as const));
      return;
    }
    let updates: ObjectUpdate[];
    try {
      updates = (await this.#feed.next(0)).updates;
    } catch (err) {
      // A fault: the collector is gone (session expired, host restarted) — start over from a
      // baseline at once. A lost connection is the caller's to retry; the next drain rebuilds.
      await this.#restart();
      if (!(err instanceof VimFault)) throw err;
      return this.#drainOnce();
    }
    applyUpdates(this.#index, updates);
  }

  async #restart(): Promise<void> {
    this.#index.invalidate();
    const feed = this.#feed;
    this.#feed = undefined;
    await feed?.close();
  }
}

/** A drained batch into the index: VMs that left, entered, or whose extraConfig changed. */
export function applyUpdates(index: UidIndex, updates: ObjectUpdate[]): void {
  for (const u of updates) {
    if (u.kind === "leave") index.remove(u.obj.value);
    else if (u.kind === "enter" || u.changes.some((c) => c.name === "config.extraConfig")) index.put(u.obj.value, uidIn(u));
  }
}

/** The uid in an update's extraConfig; undefined for an unmanaged VM (or one still being registered). */
function uidIn(u: ObjectUpdate): string | undefined {
  const change = u.changes.find((c) => c.name === "config.extraConfig");
  const uid = change === undefined ? undefined : extraConfig(change.val)[identityKeys.uid];
  return uid === "" ? undefined : uid;
}
