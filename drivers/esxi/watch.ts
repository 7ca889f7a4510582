// watch(): VM events from a PropertyCollector filter over every VirtualMachine on the host.
// WaitForUpdatesEx long-polls; its first answer is the current state (the baseline, not events);
// later answers say which VMs entered, left or changed, including changes made outside Omnivisor.
import { identityFromMetadata, RetryableError, type VmEvent, type VmIdentity } from "../contract/index.ts";
import { toDriverError } from "./errors.ts";
import { extraConfig } from "./observe.ts";
import type { VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { ChangeFeed, filterSpec, type ObjectUpdate } from "./vim25/property-collector.ts";

const watchPaths = ["name", "runtime.powerState", "config.extraConfig"];
/** Long-poll length; a dropped connection is noticed by the socket, not by this timer. */
const pollSeconds = 30;

interface KnownVm {
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

function eventsFor(known: Map<string, KnownVm>, u: ObjectUpdate, at: Date): VmEvent[] {
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

/** Opens the feed and reads the baseline; the returned stream delivers every later change. */
export async function openWatch(client: VimClient, view: MoRef, signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
  let feed: ChangeFeed;
  const known = new Map<string, KnownVm>();
  try {
    feed = await ChangeFeed.open(client, filterSpec("VirtualMachine", watchPaths, { view }));
    const baseline = await feed.next(pollSeconds, signal);
    for (const u of baseline.updates) apply(known, u);
  } catch (err) {
    throw toDriverError(err, "watch ESXi VMs");
  }
  return stream(feed, known, signal);
}

async function* stream(feed: ChangeFeed, known: Map<string, KnownVm>, signal: AbortSignal): AsyncGenerator<VmEvent> {
  try {
    while (!signal.aborted) {
      let batch;
      try {
        batch = await feed.next(pollSeconds, signal);
      } catch (err) {
        if (signal.aborted) return;
        const e = toDriverError(err, "watch ESXi VMs");
        // Whatever broke the feed (connection, expired session and with it the collector), the
        // caller's answer is the same: resubscribe and relist.
        throw e.kind === "retryable" ? e : new RetryableError(e.message, { reason: "watch-lost", cause: e });
      }
      const at = new Date();
      for (const u of batch.updates) yield* eventsFor(known, u, at);
    }
  } finally {
    await feed.close();
  }
}
