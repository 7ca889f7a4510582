// watch(): VM events from a PropertyCollector filter over every VirtualMachine on the host.
// WaitForUpdatesEx long-polls; its first answer is the current state (the baseline, not events);
// later answers say which VMs entered, left or changed, including changes made outside Omnivisor.
import { identityFromMetadata, RetryableError, type VmEvent, type VmIdentity } from "../contract/index.ts";
import { toDriverError } from "./errors.ts";
import { extraConfig } from "./observe.ts";
import type { VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { VimFault } from "./vim25/faults.ts";
import { ChangeFeed, filterSpec, type ObjectUpdate } from "./vim25/property-collector.ts";

const watchPaths = ["name", "runtime.powerState", "config.extraConfig"];
/** Long-poll length; a dropped connection is noticed by the socket, not by this timer. */
const pollSeconds = 30;

export interface KnownVm {
  name: string;
  power: string;
  identity: VmIdentity | undefined;
}

function apply(known: Map<string, KnownVm>, u: ObjectUpdate): { before: KnownVm | undefined; after: KnownVm } {
  const before = known.get(u.obj.value);
  const after: KnownVm = before ? { ...before } : { name: "", power: "", identity: undefined };
  let meta: Record<string, string> | undefined;
  for (const c of u.changes) {
    if (c.name === "name") after.name = c.val?.text ?? after.name;
    if (c.name === "runtime.powerState") after.power = c.val?.text ?? after.power;
    if (c.name === "config.extraConfig") meta = extraConfig(c.val);
  }
  if (meta) after.identity = identityFromMetadata(meta, after.name, u.obj.value);
  else if (after.identity) after.identity = { ...after.identity, name: after.name };
  known.set(u.obj.value, after);
  return { before, after };
}

function powerEvent(before: string | undefined, after: string): VmEvent["type"] | undefined {
  if (before === after) return undefined;
  if (after === "poweredOn") return before === "suspended" ? "resumed" : "started";
  if (after === "poweredOff") return "stopped";
  if (after === "suspended") return "paused";
  return undefined;
}

export function eventsFor(known: Map<string, KnownVm>, u: ObjectUpdate, at: Date): VmEvent[] {
  const event = (type: VmEvent["type"], vm: KnownVm): VmEvent => {
    const e: VmEvent = { type, externalId: u.obj.value, name: vm.name, at };
    if (vm.identity) e.identity = vm.identity;
    return e;
  };
  if (u.kind === "leave") {
    const gone = known.get(u.obj.value) ?? { name: "", power: "", identity: undefined };
    known.delete(u.obj.value);
    return [event("deleted", gone)];
  }
  const { before, after } = apply(known, u);
  const out: VmEvent[] = [];
  // vcsim (and a collector recovering from a view change) may re-announce VMs it already reported.
  if (u.kind === "enter" && !before) out.push(event("defined", after));
  const type = powerEvent(before?.power ?? "poweredOff", after.power);
  if (type) out.push(event(type, after));
  return out;
}

/** Events for what changed while no feed was open: the old known state against a new baseline. */
export function missed(known: Map<string, KnownVm>, baseline: ObjectUpdate[], at: Date): VmEvent[] {
  const detail = "missed while the vim25 session was renewed";
  const seen = new Set(baseline.map((u) => u.obj.value));
  const out: VmEvent[] = [];
  for (const [externalId, vm] of known) {
    if (seen.has(externalId)) continue;
    known.delete(externalId);
    const e: VmEvent = { type: "deleted", externalId, name: vm.name, at, detail };
    if (vm.identity) e.identity = vm.identity;
    out.push(e);
  }
  for (const u of baseline) out.push(...eventsFor(known, u, at).map((e) => ({ ...e, detail })));
  return out;
}

/** Opens a feed over every VM of the datacenter and reads its baseline. */
async function openFeed(client: VimClient, datacenter: MoRef, signal: AbortSignal): Promise<{ feed: ChangeFeed; baseline: ObjectUpdate[] }> {
  const feed = await ChangeFeed.open(client, filterSpec("VirtualMachine", watchPaths, { vmsOf: datacenter }));
  try {
    return { feed, baseline: (await feed.next(pollSeconds, signal)).updates };
  } catch (err) {
    await feed.close();
    throw err;
  }
}

/** Opens the feed and reads the baseline; the returned stream delivers every later change. */
export async function openWatch(client: VimClient, datacenter: MoRef, signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
  const known = new Map<string, KnownVm>();
  try {
    const { feed, baseline } = await openFeed(client, datacenter, signal);
    for (const u of baseline) apply(known, u);
    return stream(client, datacenter, feed, known, signal);
  } catch (err) {
    throw toDriverError(err, "watch ESXi VMs");
  }
}

async function* stream(client: VimClient, datacenter: MoRef, first: ChangeFeed, known: Map<string, KnownVm>, signal: AbortSignal): AsyncGenerator<VmEvent> {
  let feed = first;
  let reopenedLast = false;
  // A re-login (by any call of this session) orphans our collector: stop waiting on it at once.
  let renewal = new AbortController();
  const unsubscribe = client.onRenewed(() => renewal.abort());
  try {
    while (!signal.aborted) {
      let batch: ObjectUpdate[];
      try {
        batch = (await feed.next(pollSeconds, AbortSignal.any([signal, renewal.signal]))).updates;
        reopenedLast = false;
      } catch (err) {
        if (signal.aborted) return;
        // The server ended our session (the client has logged in again) and the collector went
        // with it: open a new feed and report what changed in between. A lost connection is
        // the caller's to handle (resubscribe and relist). A fault right after a reopen that no
        // re-login explains is not an expired session: give up rather than spin.
        const renewed = renewal.signal.aborted;
        if (!renewed && (!(err instanceof VimFault) || reopenedLast)) throw lost(err);
        reopenedLast = !renewed;
        renewal = new AbortController();
        await feed.close();
        const reopened = await reopen(client, datacenter, signal);
        if (!reopened) return;
        feed = reopened.feed;
        yield* missed(known, reopened.baseline, new Date());
        continue;
      }
      const at = new Date();
      for (const u of batch) yield* eventsFor(known, u, at);
    }
  } finally {
    unsubscribe();
    await feed.close();
  }
}

/** A new feed after the session was renewed; undefined when the watch was aborted meanwhile. */
async function reopen(client: VimClient, datacenter: MoRef, signal: AbortSignal): Promise<{ feed: ChangeFeed; baseline: ObjectUpdate[] } | undefined> {
  try {
    return await openFeed(client, datacenter, signal);
  } catch (err) {
    if (signal.aborted) return undefined;
    throw lost(err);
  }
}

function lost(err: unknown): RetryableError {
  const e = toDriverError(err, "watch ESXi VMs");
  return e instanceof RetryableError ? e : new RetryableError(e.message, { reason: "watch-lost", cause: e });
}
