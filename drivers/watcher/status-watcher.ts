// The per-host status-watcher loop: connect, subscribe to the hypervisor's VM events, list every
// VM, then pass events on as they come. When the connection drops (the daemon restarted, the
// network failed) it reconnects with backoff, subscribes again, re-lists and reports what changed
// while it was away as events — so a VM stopped during a libvirtd or dockerd restart is reported
// stopped. It never gives up on a host; only its signal stops it.
//
// Subscribing before listing matters: a change between the list and the subscription would
// otherwise be lost. Changes in the other order (an event for something the list already shows)
// are harmless: events carry the new state, and applying one twice changes nothing.
import type { Session, VmEvent, VmObservation } from "../contract/index.ts";
import { RetryableError } from "../contract/index.ts";
import { Backoff, type BackoffOptions, sleep } from "./backoff.ts";
import { KnownVms } from "./known-vms.ts";

export interface ConnectionState {
  connected: boolean;
  /** Why the connection was lost (absent when connected). */
  error?: unknown;
  /** Failed attempts since the last successful connection. */
  failures: number;
}

export interface StatusWatcherOptions {
  /** Opens a session to the host (e.g. `(signal) => driver.connect(host, credentials, signal)`). */
  connect: (signal: AbortSignal) => Promise<Session>;
  /** Every VM event: the hypervisor's, and after a reconnect the ones missed while away. */
  onEvent: (event: VmEvent) => void;
  /** The full VM list after each (re)connect; `reconnect` is false the first time. */
  onResync?: (vms: VmObservation[], reconnect: boolean) => void;
  onConnection?: (state: ConnectionState) => void;
  backoff?: BackoffOptions;
  /** How long one connection attempt may take before it counts as failed (default 15 s). */
  connectTimeoutMs?: number;
  /**
   * How long a connection must last before the reconnect delay starts small again (default 30 s):
   * a host that accepts connections and drops them at once is retried ever more slowly, not at
   * the first delay forever.
   */
  stableAfterMs?: number;
}

/** A callback threw: that is the consumer's bug, not a connection problem — stop and report it. */
class ConsumerError extends Error {}

export class StatusWatcher {
  /** The watcher's current view of the host's VMs. */
  readonly known = new KnownVms();
  private readonly options: StatusWatcherOptions;
  private readonly backoff: Backoff;
  private synced = false;
  private failures = 0;
  /** When the current connection was made (performance.now()); undefined while none is up. */
  private connectedAt: number | undefined;

  constructor(options: StatusWatcherOptions) {
    this.options = options;
    this.backoff = new Backoff(options.backoff);
  }

  /** Runs until `signal` aborts. Rejects only when a callback throws. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let session: Session | undefined;
      try {
        // A host that swallows packets would otherwise hang the attempt forever.
        session = await this.options.connect(AbortSignal.any([signal, AbortSignal.timeout(this.options.connectTimeoutMs ?? 15_000)]));
        await this.follow(session, signal);
      } catch (err) {
        if (err instanceof ConsumerError) throw err.cause;
        if (signal.aborted) break;
        const upFor = this.connectedAt === undefined ? 0 : performance.now() - this.connectedAt;
        this.connectedAt = undefined;
        if (upFor >= (this.options.stableAfterMs ?? 30_000)) this.backoff.reset();
        this.failures++;
        this.tell(() => this.options.onConnection?.({ connected: false, error: err, failures: this.failures }));
        await sleep(this.backoff.next(), signal);
      } finally {
        await session?.close().catch(() => undefined); // the connection is gone anyway
      }
    }
  }

  private async follow(session: Session, signal: AbortSignal): Promise<void> {
    const stream = await session.watch(signal);
    const vms = await session.listVms();
    const reconnect = this.synced;
    const missed = this.known.replace(vms);
    this.synced = true;
    this.failures = 0;
    this.connectedAt = performance.now(); // the backoff starts over only once this has lasted
    this.tell(() => this.options.onConnection?.({ connected: true, failures: 0 }));
    if (reconnect) for (const event of missed) this.tell(() => this.options.onEvent(event));
    this.tell(() => this.options.onResync?.(vms, reconnect));
    for await (const event of stream) {
      this.known.apply(event);
      this.tell(() => this.options.onEvent(event));
    }
    if (!signal.aborted) throw new RetryableError("the event stream ended without an error", { reason: "stream-ended" });
  }

  private tell(callback: () => void): void {
    try {
      callback();
    } catch (err) {
      throw new ConsumerError("a status-watcher callback threw", { cause: err });
    }
  }
}
