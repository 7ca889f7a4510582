// A status watcher running against a real Docker endpoint, recording what it reports, for the
// reconnect scenarios.
import { expect } from "vitest";
import type { HostConnection, VmEvent, VmObservation } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { type ConnectionState, StatusWatcher } from "../../drivers/watcher/status-watcher.ts";

export class WatchedHost {
  readonly events: VmEvent[] = [];
  readonly connections: ConnectionState[] = [];
  readonly resyncs: VmObservation[][] = [];
  readonly watcher: StatusWatcher;
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>;

  constructor(host: HostConnection) {
    const driver = new DockerDriver();
    this.watcher = new StatusWatcher({
      connect: (signal) => driver.connect(host, undefined, signal),
      onEvent: (e) => this.events.push(e),
      onResync: (vms) => this.resyncs.push(vms),
      onConnection: (s) => this.connections.push(s),
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    this.running = this.watcher.run(this.stopping.signal);
  }

  get connected(): boolean {
    return this.connections.at(-1)?.connected === true;
  }

  /** Event types seen for one VM, with "(missed)" on those derived after a reconnect. */
  eventsFor(externalId: string): string[] {
    return this.events.filter((e) => e.externalId === externalId).map((e) => `${e.type}${e.detail === "missed while disconnected" ? " (missed)" : ""}`);
  }

  async eventually(check: () => void, timeout = 20_000): Promise<void> {
    await expect.poll(() => {
      try {
        check();
        return true;
      } catch (err) {
        return (err as Error).message;
      }
    }, { timeout, interval: 100 }).toBe(true);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }
}
