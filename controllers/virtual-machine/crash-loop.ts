// A guest that keeps stopping on its own (a crash, a panic, someone destroying it on the host) is
// started again with exponential backoff, as the kubelet does with a container: the first starts
// at once, then 10 s, 20 s, 40 s … up to 5 minutes between them, counted over the last 10
// minutes. Starts the spec asked for after a stop we made (Stopped → Running) begin a new count.
// Pure: the VM controller tells it what it did and asks when the next start may be.

export const crashWindowMs = 10 * 60_000;
const freeStarts = 2;
const firstDelayMs = 10_000;
export const maxDelayMs = 5 * 60_000;

export interface Hold {
  /** Starts made for this VM in the window (not counting the one asked about). */
  starts: number;
  /** How long the next start must wait; 0: now. */
  waitMs: number;
}

export class CrashLoops {
  private readonly startsByUid = new Map<string, number[]>();

  /** When the next start of a VM that is off but should run may be made. */
  hold(uid: string, now: number): Hold {
    const starts = this.recent(uid, now);
    if (starts.length < freeStarts) return { starts: starts.length, waitMs: 0 };
    const delay = Math.min(firstDelayMs * 2 ** (starts.length - freeStarts), maxDelayMs);
    return { starts: starts.length, waitMs: Math.max(0, starts.at(-1)! + delay - now) };
  }

  /** A start was made because the VM was off while its spec says Running. */
  started(uid: string, now: number): void {
    this.startsByUid.set(uid, [...this.recent(uid, now), now]);
  }

  /** The VM was stopped on purpose, or deleted: its count starts over. */
  forget(uid: string): void {
    this.startsByUid.delete(uid);
  }

  private recent(uid: string, now: number): number[] {
    return (this.startsByUid.get(uid) ?? []).filter((t) => now - t < crashWindowMs);
  }
}
