// watch(): XAPI's event.from long-poll as a stream of VM events. event.from with an empty token
// returns every VM and a token — a consistent starting point — and each later call returns what
// changed since the previous token. Power changes are derived by comparing each VM's new record
// with the last one seen, so changes made by XenCenter or `xe` are reported like our own.
import { identityFromMetadata, RetryableError, type VmEvent, type VmEventType, type VmIdentity } from "../contract/index.ts";
import { eventPollSeconds, type XapiClient } from "./client.ts";
import { isGuest, powerOf, type VmRecord } from "./records.ts";

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
  identity?: VmIdentity;
}

export class VmEventFeed {
  private readonly client: XapiClient;
  private readonly known = new Map<string, Known>();
  private token = "";

  constructor(client: XapiClient) {
    this.client = client;
  }

  /** Reads every VM and the token to continue from; after this, every change is reported. */
  async start(): Promise<void> {
    const batch = await this.client.call<EventBatch>("watch VMs", "event.from", ["vm"], "", 0);
    for (const e of batch.events) if (e.snapshot !== undefined) this.known.set(e.ref, known(e.snapshot));
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
      for (const e of batch.events) yield* this.translate(e);
    }
  }

  /** After EVENTS_LOST: start over and report what changed meanwhile. */
  private async *resync(): AsyncGenerator<VmEvent> {
    const batch = await this.client.call<EventBatch>("watch VMs", "event.from", ["vm"], "", 0);
    const seen = new Set<string>();
    for (const e of batch.events) {
      seen.add(e.ref);
      yield* this.translate({ ...e, operation: this.known.has(e.ref) ? "mod" : "add" }, "missed while the feed was behind");
    }
    for (const ref of [...this.known.keys()]) if (!seen.has(ref)) yield* this.translate({ class: "vm", operation: "del", ref }, "missed while the feed was behind");
    this.token = batch.token;
  }

  private *translate(e: XapiEvent, detail?: string): Generator<VmEvent> {
    const before = this.known.get(e.ref);
    if (e.operation === "del" || e.snapshot === undefined) {
      this.known.delete(e.ref);
      if (before?.guest === true) yield event("deleted", before, detail);
      return;
    }
    const after = known(e.snapshot);
    this.known.set(e.ref, after);
    if (!after.guest) return;
    // A VM becomes a guest when it is added, or when a clone of a template is provisioned.
    if (before === undefined || !before.guest) {
      yield event("defined", after, detail);
      if (after.power !== "Halted") yield* powerEvents("Halted", after, detail);
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

function known(vm: VmRecord): Known {
  const k: Known = { uuid: vm.uuid, name: vm.name_label, power: vm.power_state, guest: isGuest(vm) };
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
