// A keyed work queue in the shape of client-go's: a key waits at most once (de-duplicated), is
// handed to one worker at a time (a key added while it is being processed waits until done()),
// failures back off exponentially per key up to a cap, and requeue-after delays a key without
// counting as a failure. Shutdown stops handing out keys; in-flight keys finish.
import { backoffDelay, type BackoffOptions } from "./backoff.ts";

export interface QueueObserver {
  added?(): void;
  depth?(n: number): void;
  /** Seconds a key waited between add and hand-out. */
  latency?(seconds: number): void;
  retried?(): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly addedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;
  private readonly observer: QueueObserver;

  constructor(backoff: BackoffOptions = { baseMs: 100, capMs: 300_000 }, observer: QueueObserver = {}) {
    this.backoff = backoff;
    this.observer = observer;
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.observer.added?.();
    this.dirty.add(key);
    this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return; // done() puts it back
    this.push(key);
  }

  /** Adds the key after ms; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, timer });
  }

  /** A failure: adds the key after this key's next backoff step. Returns the delay. */
  addRateLimited(key: string): number {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const delay = backoffDelay(attempt, this.backoff);
    this.observer.retried?.();
    this.addAfter(key, delay);
    return delay;
  }

  /** Success: the key's next failure starts from the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key, or undefined once the queue shuts down. The caller must call done(key). */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
    if (this.processing.size === 0) this.idleWaiters.splice(0).forEach((w) => w());
  }

  /** Stops handing out keys and waits until every key being processed is done. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.waiters.splice(0).forEach((w) => w(undefined));
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.handOut(key);
      return waiter(key);
    }
    this.queue.push(key);
    this.observer.depth?.(this.queue.length);
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.observer.depth?.(this.queue.length);
    this.handOut(key);
    return key;
  }

  private handOut(key: string): void {
    this.processing.add(key);
    this.dirty.delete(key);
    const since = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (since !== undefined) this.observer.latency?.((performance.now() - since) / 1000);
  }
}
