// Exponential backoff with a cap, shared by the work queue (per key) and the informers (per
// watch): base · 2^(attempt-1), never above cap.
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export function backoffDelay(attempt: number, { baseMs, capMs }: BackoffOptions): number {
  if (attempt <= 0) return 0;
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 40));
}

/** Adds up to `fraction` of random jitter so many clients do not retry in lockstep. */
export function jitter(ms: number, fraction = 0.2): number {
  return ms + Math.random() * ms * fraction;
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
