// Coalesced, one-at-a-time drains of a change feed. A lookup must see every change made before
// it started, so it waits for a drain that starts after it was asked for; lookups that arrive
// while one drain runs share the next one (not one each), and two drains never run at once
// (a feed's version or token must advance in order).
export class Drain {
  readonly #drainOnce: () => Promise<void>;
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  constructor(drainOnce: () => Promise<void>) {
    this.#drainOnce = drainOnce;
  }

  /** Resolves after a drain that started after this call. */
  run(): Promise<void> {
    if (this.#queued) return this.#queued;
    if (!this.#running) return this.#start();
    const queued = this.#running.catch(() => undefined).then(() => {
      this.#queued = undefined;
      return this.#start();
    });
    this.#queued = queued;
    return queued;
  }

  #start(): Promise<void> {
    const running = this.#drainOnce().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }
}
