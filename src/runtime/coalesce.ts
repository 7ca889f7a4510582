// Passes caused by a stream of changes elsewhere (a Host's allocated figures following the VMs
// placed on it, a Datacenter's sums following its Hosts) are coalesced: the first change of a key
// is queued at once, later ones within the interval wait for its end, and one pass then covers
// them all. During a burst of 10,000 VM placements this turns a status write per VM into one per
// host per interval; a single change still shows at once.
import type { WorkQueue } from "./work-queue.ts";

/** The interval for summaries (Host allocated, HostPool and Datacenter sums): what users see lags by at most this. */
export const summaryIntervalMs = 5_000;

export class Coalescer {
  private readonly queue: Pick<WorkQueue, "add" | "addAfter">;
  private readonly intervalMs: number;
  /** key → when its latest pass was queued to start. */
  private readonly next = new Map<string, number>();

  constructor(queue: Pick<WorkQueue, "add" | "addAfter">, intervalMs: number) {
    this.queue = queue;
    this.intervalMs = intervalMs;
  }

  add(key: string, now = Date.now()): void {
    const last = this.next.get(key);
    if (last === undefined || now - last >= this.intervalMs) {
      this.next.set(key, now);
      this.queue.add(key);
      return;
    }
    if (last > now) {
      // a pass is already due at the end of this interval — unless an earlier requeue of the
      // same key replaced its timer (the queue keeps a key's earliest delay) and has run since:
      // asking again costs nothing when the timer is still there, and keeps this change from
      // being lost when it is not
      this.queue.addAfter(key, last - now);
      return;
    }
    const at = last + this.intervalMs;
    this.next.set(key, at);
    this.queue.addAfter(key, at - now);
  }

  forget(key: string): void {
    this.next.delete(key);
  }
}
