// watch(): Hyper-V offers no change feed over WinRM, so the driver polls Get-VM and reports the
// differences between two snapshots. A change made and undone outside the driver between two
// listings is not seen: a limit of polling, bounded by the interval.
import { RetryableError, type VmEvent, type VmEventType, type VmObservation } from "../contract/index.ts";

export type Snapshot = Map<string, VmObservation>;

export function snapshot(vms: VmObservation[]): Snapshot {
  return new Map(vms.map((vm) => [vm.externalId, vm]));
}

/** The events that turn before into after. */
export function differences(before: Snapshot, after: Snapshot): VmEvent[] {
  const at = new Date();
  const events: VmEvent[] = [];
  const push = (type: VmEventType, vm: VmObservation): void => {
    const e: VmEvent = { type, externalId: vm.externalId, name: vm.name, at };
    if (vm.identity !== undefined) e.identity = vm.identity;
    events.push(e);
  };
  for (const [id, vm] of after) {
    const was = before.get(id);
    if (was === undefined) {
      push("defined", vm);
      if (vm.power === "Running" || vm.power === "Paused") push("started", vm);
      if (vm.power === "Paused") push("paused", vm);
      continue;
    }
    if (was.power === vm.power) continue;
    if (vm.power === "Running") push(was.power === "Paused" ? "resumed" : "started", vm);
    else if (vm.power === "Paused") {
      if (was.power !== "Running") push("started", vm);
      push("paused", vm);
    } else if (vm.power === "Stopped") push("stopped", vm);
  }
  for (const [id, vm] of before) if (!after.has(id)) push("deleted", vm);
  return events;
}

/**
 * The change detector behind one watch(). Every Get-VM listing the session makes — the poll,
 * and also listVms / observeVm calls for other reasons — is offered to it, so a change the
 * session has seen is reported even when it is undone before the next poll. Listings are
 * numbered when they start; one that finishes after a newer one is ignored.
 */
export class ChangeFeed {
  private last: Snapshot;
  private lastSeq: number;
  /** VMs read on their own (Get-VM -Id) after the last listing: Id → the read's number. */
  private readonly readAlone = new Map<string, number>();
  private readonly queue: VmEvent[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(first: Snapshot, seq: number) {
    this.last = first;
    this.lastSeq = seq;
  }

  observe(seq: number, vms: VmObservation[]): void {
    if (this.ended || seq <= this.lastSeq) return;
    const now = snapshot(vms);
    // A VM read alone after this listing started is newer than what the listing says of it.
    for (const [id, readSeq] of this.readAlone) {
      if (readSeq <= seq) {
        this.readAlone.delete(id);
        continue;
      }
      const seen = this.last.get(id);
      if (seen === undefined) now.delete(id);
      else now.set(id, seen);
    }
    this.queue.push(...differences(this.last, now));
    this.last = now;
    this.lastSeq = seq;
    this.notify();
  }

  /** One VM read on its own (Get-VM -Id; undefined: it is gone), numbered like the listings. */
  observeOne(seq: number, id: string, vm: VmObservation | undefined): void {
    if (this.ended || seq <= this.lastSeq || seq <= (this.readAlone.get(id) ?? 0)) return;
    const was = this.last.get(id);
    this.queue.push(...differences(new Map(was === undefined ? [] : [[id, was]]), new Map(vm === undefined ? [] : [[id, vm]])));
    if (vm === undefined) this.last.delete(id);
    else this.last.set(id, vm);
    this.readAlone.set(id, seq);
    this.notify();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.failure = err instanceof RetryableError ? err : new RetryableError(`hyperv: polling Get-VM failed: ${String(err)}`, { reason: "watch", cause: err });
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  async *events(): AsyncGenerator<VmEvent> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Polls until signal aborts; a failed listing ends the feed with a RetryableError. */
export async function poll(list: () => Promise<unknown>, feed: ChangeFeed, intervalMs: number, signal: AbortSignal): Promise<void> {
  signal.addEventListener("abort", () => feed.end(), { once: true });
  while (!signal.aborted) {
    await sleep(intervalMs, signal);
    if (signal.aborted) break;
    try {
      await list();
    } catch (err) {
      if (!signal.aborted) feed.fail(err);
      return;
    }
  }
  feed.end();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
