// watch(): XAPI's event.from long-poll as a stream of VM events. event.from with an empty token
// returns every VM and a token — a consistent starting point — and each later call returns what
// changed since the previous token. Power changes are derived by comparing each VM's new record
// with the last one seen, so changes made by XenCenter or `xe` are reported like our own.
// The feed sees the whole pool and reports this session's host only (./residency.ts): a VM that
// leaves it (VM.pool_migrate, or a halted VM's affinity moved) is "migrated", one that arrives
// from another host of the pool is "defined" (and "started", detail "migrated in").
import { identityFromMetadata, RetryableError, type VmEvent, type VmEventType, type VmIdentity } from "../contract/index.ts";
import { eventPollSeconds, type XapiClient } from "./client.ts";
import { isGuest, nullRef, powerOf, type VmRecord } from "./records.ts";
import { holderOf, type PoolHosts, type PoolView } from "./residency.ts";

interface XapiEvent {
  class: string;
  operation: "add" | "mod" | "del";
  ref: string;
  snapshot?: VmRecord;
}

interface EventBatch {
  events: XapiEvent[];
  token: string;
}

interface Known {
  uuid: string;
  name: string;
  power: string;
  guest: boolean;
  /** On this session's host of the pool. */
  here: boolean;
  identity?: VmIdentity;
}

export class VmEventFeed {
  private readonly client: XapiClient;
  private readonly view: PoolView;
  private readonly known = new Map<string, Known>();
  private token = "";
  /** The pool's hosts as of the batch being translated. */
  private pool: PoolHosts | undefined;

  constructor(client: XapiClient, view: PoolView) {
    this.client = client;
    this.view = view;
  }

  /** Reads every VM and the token to continue from; after this, every change is reported. */
  async start(): Promise<void> {
    const batch = await this.client.call<EventBatch>("watch VMs", "event.from", ["vm"], "", 0);
    await this.readPool(batch.events);
    for (const e of batch.events) if (e.snapshot !== undefined) this.known.set(e.ref, this.knownOf(e.snapshot));
    this.token = batch.token;
  }

  async *events(signal: AbortSignal): AsyncGenerator<VmEvent> {
    while (!signal.aborted) {
      let batch: EventBatch | undefined;
      try {
        batch = await untilAborted(this.client.call<EventBatch>("watch VMs", "event.from", ["vm"], this.token, eventPollSeconds), signal);
      } catch (err) {
        if (signal.aborted) return;
        if ((err as { reason?: string }).reason === "events-lost") {
          yield* this.resync();
          continue;
        }
        throw err instanceof RetryableError ? err : new RetryableError(`xenserver: the event feed ended: ${String(err)}`, { reason: "watch", cause: err });
      }
      if (batch === undefined) return;
      this.token = batch.token;
      await this.readPool(batch.events);
      for (const e of batch.events) yield* this.translate(e);
    }
  }

  /** After EVENTS_LOST: start over and report what changed meanwhile. */
  private async *resync(): AsyncGenerator<VmEvent> {
    const batch = await this.client.call<EventBatch>("watch VMs", "event.from", ["vm"], "", 0);
    await this.readPool(batch.events);
    const seen = new Set<string>();
    for (const e of batch.events) {
      seen.add(e.ref);
      yield* this.translate({ ...e, operation: this.known.has(e.ref) ? "mod" : "add" }, "missed while the feed was behind");
    }
    for (const ref of [...this.known.keys()]) if (!seen.has(ref)) yield* this.translate({ class: "vm", operation: "del", ref }, "missed while the feed was behind");
    this.token = batch.token;
  }

  /** The pool's hosts for this batch (read again when a VM's affinity names a host not yet known). */
  private async readPool(events: XapiEvent[]): Promise<void> {
    const unknown = events.map((e) => e.snapshot?.affinity ?? nullRef).find((ref) => ref !== nullRef && this.pool?.hosts.has(ref) === false);
    this.pool = await this.view.hosts(unknown);
  }

  private knownOf(vm: VmRecord): Known {
    return known(vm, this.pool === undefined ? false : holderOf(vm, this.pool) === this.view.self);
  }

  private *translate(e: XapiEvent, detail?: string): Generator<VmEvent> {
    const before = this.known.get(e.ref);
    const wasHere = before?.guest === true && before.here;
    if (e.operation === "del" || e.snapshot === undefined) {
      this.known.delete(e.ref);
      if (wasHere) yield event("deleted", before, detail);
      return;
    }
    const after = this.knownOf(e.snapshot);
    this.known.set(e.ref, after);
    if (!after.guest) return;
    if (!after.here) {
      // Gone from this host, to another of the pool: the session no longer reports it.
      if (wasHere) yield event("migrated", after, detail ?? "moved to another host of the pool");
      return;
    }
    if (!wasHere) {
      // A VM becomes this host's guest when it is added here, when a clone of a template is
      // provisioned, or when it arrives from another host of the pool.
      const arrived = before?.guest === true ? "migrated in" : undefined;
      yield event("defined", after, detail ?? arrived);
      if (after.power !== "Halted") yield* powerEvents("Halted", after, detail ?? arrived);
      return;
    }
    yield* powerEvents(before.power, after, detail);
  }
}

function* powerEvents(from: string, vm: Known, detail: string | undefined): Generator<VmEvent> {
  const was = powerOf(from);
  const now = powerOf(vm.power);
  if (was === now) return;
  const types: VmEventType[] = [];
  if (now === "Running") types.push(was === "Paused" ? "resumed" : "started");
  else if (now === "Paused") types.push(...(was === "Stopped" ? (["started", "paused"] as const) : (["paused"] as const)));
  else if (now === "Stopped") types.push("stopped");
  for (const type of types) yield event(type, vm, detail ?? (vm.power === "Suspended" ? "suspended" : undefined));
}

function known(vm: VmRecord, here: boolean): Known {
  const k: Known = { uuid: vm.uuid, name: vm.name_label, power: vm.power_state, guest: isGuest(vm), here };
  const identity = identityFromMetadata(vm.other_config, vm.name_label, vm.uuid);
  if (identity !== undefined) k.identity = identity;
  return k;
}

function event(type: VmEventType, vm: Known, detail: string | undefined): VmEvent {
  const e: VmEvent = { type, externalId: vm.uuid, name: vm.name, at: new Date() };
  if (vm.identity !== undefined) e.identity = vm.identity;
  if (detail !== undefined) e.detail = detail;
  return e;
}

/** The call's result, or undefined as soon as signal aborts (the long-poll itself runs out on the host). */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    call.catch(() => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    call.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
