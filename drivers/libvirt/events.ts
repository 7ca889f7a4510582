// The session's watch(): libvirt lifecycle callbacks as the contract's VmEvents. Registration is
// done before watch() resolves, so every change after that arrives (also changes made by virsh
// or other clients). A dropped connection ends the iteration with RetryableError.
import { type VmEvent, type VmEventType, type VmIdentity } from "../contract/index.ts";
import { parseIdentityMetadata } from "./domain-xml.ts";
import { toDriverError } from "./errors.ts";
import { identityOf } from "./observe.ts";
import { uuidToString, type DomainRef } from "./rpc/protocol.ts";
import { LifecycleEvent, StartedDetail, StoppedDetail, SuspendedDetail } from "./rpc/procedures.ts";
import type { LibvirtRemote, LifecycleMessage } from "./rpc/remote.ts";

const stoppedDetail: Record<number, string> = { 0: "shutdown", 1: "destroyed", 2: "crashed", 3: "migrated", 4: "saved", 5: "failed", 6: "from snapshot" };

/** The contract's event type for a libvirt lifecycle event; undefined for ones we do not report. */
export function eventType(event: number, detail: number): VmEventType | undefined {
  switch (event) {
    case LifecycleEvent.Defined:
      return "defined";
    case LifecycleEvent.Undefined:
      return "deleted";
    case LifecycleEvent.Started:
      return "started";
    case LifecycleEvent.Suspended:
      // the source pauses at a live migration's switch-over: the guest runs on, on the target
      if (detail === SuspendedDetail.Migrated || detail === SuspendedDetail.PostCopy) return undefined;
      return "paused";
    case LifecycleEvent.PmSuspended:
      return "paused";
    case LifecycleEvent.Resumed:
      return "resumed";
    case LifecycleEvent.Stopped:
      if (detail === StoppedDetail.Crashed) return "crashed";
      if (detail === StoppedDetail.Migrated) return "migrated";
      return "stopped";
    case LifecycleEvent.Crashed:
      return "crashed";
    default:
      return undefined; // SHUTDOWN: the guest began shutting down; STOPPED follows
  }
}

function detailText(msg: LifecycleMessage): string | undefined {
  if (msg.event === LifecycleEvent.Stopped) return stoppedDetail[msg.detail];
  if (msg.event === LifecycleEvent.Started && msg.detail === StartedDetail.Migrated) return "migrated in";
  return undefined;
}

/** Remembers who each domain is, so a "deleted" event (metadata already gone) still names its VM. */
export class IdentityCache {
  private readonly byUuid = new Map<string, VmIdentity>();

  remember(externalId: string, identity: VmIdentity | undefined): void {
    if (identity) this.byUuid.set(externalId, identity);
  }

  get(externalId: string): VmIdentity | undefined {
    return this.byUuid.get(externalId);
  }

  forget(externalId: string): void {
    this.byUuid.delete(externalId);
  }

  /** Reads the identity from the daemon when not cached; undefined for unmanaged or vanished VMs. */
  async resolve(remote: LibvirtRemote, dom: DomainRef): Promise<VmIdentity | undefined> {
    const id = uuidToString(dom.uuid);
    const cached = this.byUuid.get(id);
    if (cached) return cached;
    try {
      const meta = parseIdentityMetadata(await remote.getXmlDesc(dom));
      const identity = meta && identityOf({ name: dom.name, uuid: id, cpus: 0, memoryMiB: 0, diskFiles: [], bootFiles: [], macs: [], disks: [], nics: [], meta });
      this.remember(id, identity);
      return identity;
    } catch {
      return undefined;
    }
  }
}

/** A small async queue: producers push, the consumer iterates; ends on finish() or fail(). */
class EventQueue implements AsyncIterableIterator<VmEvent> {
  private readonly items: VmEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<VmEvent>) => void; reject: (e: Error) => void } | undefined;
  private ended: { error?: Error } | undefined;

  push(e: VmEvent): void {
    if (this.ended) return;
    if (this.waiter) {
      this.waiter.resolve({ value: e, done: false });
      this.waiter = undefined;
    } else this.items.push(e);
  }

  finish(error?: Error): void {
    if (this.ended) return;
    this.ended = error ? { error } : {};
    if (!this.waiter) return;
    if (error) this.waiter.reject(error);
    else this.waiter.resolve({ value: undefined, done: true });
    this.waiter = undefined;
  }

  next(): Promise<IteratorResult<VmEvent>> {
    const item = this.items.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.ended) return this.ended.error ? Promise.reject(this.ended.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<VmEvent>> {
    this.finish();
    this.items.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<VmEvent> {
    return this;
  }
}

export async function watchLifecycle(remote: LibvirtRemote, identities: IdentityCache, signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
  const queue = new EventQueue();
  // Identity lookups are asynchronous; a promise chain keeps events in the daemon's order.
  let chain = Promise.resolve();
  let callbackId = -1;
  const pendingBeforeId: LifecycleMessage[] = [];

  const deliver = (msg: LifecycleMessage): void => {
    const type = eventType(msg.event, msg.detail);
    if (!type) return;
    const at = new Date();
    chain = chain.then(async () => {
      const externalId = uuidToString(msg.domain.uuid);
      const identity = type === "deleted" ? identities.get(externalId) : await identities.resolve(remote, msg.domain);
      const event: VmEvent = { type, externalId, name: msg.domain.name, at };
      if (identity) event.identity = identity;
      const detail = detailText(msg);
      if (detail) event.detail = detail;
      queue.push(event);
    });
  };

  const unsubscribe = remote.onLifecycle((msg) => {
    if (callbackId < 0) pendingBeforeId.push(msg);
    else if (msg.callbackId === callbackId) deliver(msg);
  });
  const stopOnClose = remote.rpc.onClose((err) => {
    void chain.then(() => queue.finish(toDriverError(err, "libvirt event stream")));
  });
  const onAbort = (): void => {
    unsubscribe();
    stopOnClose();
    queue.finish();
    if (callbackId >= 0 && !remote.rpc.closed) remote.deregisterEvents(callbackId).catch(() => undefined);
  };

  try {
    callbackId = await remote.registerLifecycleEvents();
  } catch (err) {
    unsubscribe();
    stopOnClose();
    throw toDriverError(err, "registering for libvirt lifecycle events");
  }
  for (const msg of pendingBeforeId.splice(0)) if (msg.callbackId === callbackId) deliver(msg);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return queue;
}

