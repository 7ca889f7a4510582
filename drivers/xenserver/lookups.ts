// Lookups by uid for one XenServer session, without VM.get_all_records per call. A per-session
// index (uid → VM ref, ../lookup/uid-index.ts) starts from event.from's baseline and is brought up
// to date before every lookup by one event.from with timeout 0 (it answers at once with the VM
// changes since the last token, none most of the time). So a lookup costs that drain plus one
// VM.get_record, whatever the number of VMs, and sees every change committed before it started —
// a VM made by another session or by XenCenter included, which keeps creates idempotent by uid.
// EVENTS_LOST or a new session rebuild the index from a new baseline.
import { identityKeys, isDriverError } from "../contract/index.ts";
import { Drain } from "../lookup/drain.ts";
import { lookupByUid, UidIndex } from "../lookup/uid-index.ts";
import type { XapiClient } from "./client.ts";
import type { VmRecord, VmRecords } from "./records.ts";

interface EventBatch {
  events: { class: string; operation: "add" | "mod" | "del"; ref: string; snapshot?: VmRecord }[];
  token: string;
}

export type FoundVm = [ref: string, vm: VmRecord];

/** The uid a VM is indexed under: none for dom0 and snapshots (a snapshot copies its VM's other_config). */
function indexedUid(vm: VmRecord): string | undefined {
  if (vm.is_control_domain || vm.is_a_snapshot === true) return undefined;
  return vm.other_config[identityKeys.uid];
}

export class VmLookups {
  private readonly client: XapiClient;
  private readonly index = new UidIndex();
  /** Where the next drain continues; undefined until the baseline is read. */
  private token: string | undefined;
  private readonly drain = new Drain(() => this.drainOnce());

  constructor(client: XapiClient) {
    this.client = client;
  }

  /** The VM (templates included: a half-made one) carrying uid. */
  find(uid: string): Promise<FoundVm | undefined> {
    return lookupByUid(this.index, uid, {
      refresh: () => this.drain.run(),
      read: async (ref) => {
        const vm = await this.client.call<VmRecord>("read VM", "VM.get_record", ref).catch(notFoundAsUndefined);
        return vm === undefined ? undefined : [ref, vm];
      },
      uidOf: ([, vm]) => indexedUid(vm),
      list: async (wanted) => {
        const all = Object.entries(await this.client.call<VmRecords>("list VMs", "VM.get_all_records"));
        this.index.merge(all.map(([ref, vm]) => [ref, indexedUid(vm)] as const));
        return all.find(([, vm]) => indexedUid(vm) === wanted);
      },
    });
  }

  /** This session made a VM: it is found at once, before its event arrives. */
  created(ref: string, uid: string): void {
    this.index.put(ref, uid);
  }

  /** This session destroyed a VM. */
  deleted(ref: string): void {
    this.index.remove(ref);
  }

  private async drainOnce(): Promise<void> {
    if (this.token === undefined) {
      const baseline = await this.client.call<EventBatch>("index VMs", "event.from", ["vm"], "", 0);
      this.index.reset(baseline.events.filter((e) => e.snapshot !== undefined).map((e) => [e.ref, indexedUid(e.snapshot!)] as const));
      this.token = baseline.token;
      return;
    }
    let batch: EventBatch;
    try {
      batch = await this.client.call<EventBatch>("follow VM changes", "event.from", ["vm"], this.token, 0);
    } catch (err) {
      if ((err as { reason?: string }).reason !== "events-lost") throw err;
      this.index.invalidate();
      this.token = undefined;
      return this.drainOnce();
    }
    for (const e of batch.events) {
      if (e.operation === "del" || e.snapshot === undefined) this.index.remove(e.ref);
      else this.index.put(e.ref, indexedUid(e.snapshot));
    }
    this.token = batch.token;
  }
}

export function notFoundAsUndefined(err: unknown): undefined {
  if (isDriverError(err) && err.kind === "not-found") return undefined;
  throw err;
}
