// The status watcher for one Host: follows the hypervisor's VM events (drivers/watcher, with
// reconnect and resync), reports them into VM status, and renews the host's heartbeat Lease
// while connected. For a host fenced by Watchdog it also self-fences (self-fence.ts).
import type { KubeConfig } from "@kubernetes/client-node";
import type { Session } from "../../drivers/contract/index.ts";
import type { HostObject, VmObject } from "../fleet/kinds.ts";
import { StatusWatcher } from "../../drivers/watcher/status-watcher.ts";
import type { Informer } from "../runtime/informer.ts";
import { describeError, type Logger } from "../runtime/log.ts";
import { Heartbeat } from "./heartbeat-renewer.ts";
import { SelfFence } from "./self-fence.ts";
import { VmReporter } from "./vm-reporter.ts";

export interface HostAgentDeps {
  kc: KubeConfig;
  /** A session to the host for the watch (closed by the watcher when its connection fails). */
  connect(host: HostObject, signal: AbortSignal): Promise<Session>;
  vms: Informer<VmObject>;
  log: Logger;
  identity: string;
  leaseNamespace: string;
  heartbeatIntervalMs: number;
}

export class HostAgent {
  readonly host: string;
  readonly generation: number | undefined;
  readonly reporter: VmReporter;
  readonly heartbeat: Heartbeat;
  /** Hosts fenced by Watchdog: destroys their VMs when the heartbeat has not been renewed for long. */
  readonly selfFence: SelfFence | undefined;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  private connected = false;

  constructor(host: HostObject, deps: HostAgentDeps) {
    this.host = host.metadata.name;
    this.generation = host.metadata.generation;
    const log = deps.log.with({ host: this.host });
    this.reporter = new VmReporter(deps.kc, deps.vms, this.host, log);
    this.heartbeat = new Heartbeat(deps.kc, log, {
      namespace: deps.leaseNamespace,
      host: this.host,
      identity: deps.identity,
      intervalMs: deps.heartbeatIntervalMs,
      healthy: () => this.connected,
    });
    // Reports are queued one after another so a burst of events is written in order.
    let chain = Promise.resolve();
    const enqueue = (work: () => Promise<void>): void => {
      chain = chain.then(work, work);
    };
    const watcher = new StatusWatcher({
      connect: (signal) => deps.connect(host, signal),
      onEvent: (event) => enqueue(() => this.reporter.event(event)),
      onResync: (vms) => enqueue(() => this.reporter.resync(vms)),
      onConnection: (state) => {
        const was = this.connected;
        this.connected = state.connected;
        if (state.connected && !was) {
          log.info("watching host");
          void this.heartbeat.renew();
        }
        if (!state.connected) log.warn("host connection lost; reconnecting", { error: describeError(state.error), failures: state.failures });
      },
    });
    const watchdog = host.spec.fencing?.method === "Watchdog" ? host.spec.fencing.watchdog : undefined;
    this.selfFence =
      host.spec.fencing?.method === "Watchdog"
        ? new SelfFence({ host: this.host, afterMs: (watchdog?.selfFenceAfterSeconds ?? 10) * 1000, lastRenewedAt: () => this.heartbeat.lastRenewedAt, connect: (signal) => deps.connect(host, signal), log })
        : undefined;
    this.running = Promise.all([watcher.run(this.stop.signal), this.heartbeat.run(this.stop.signal), this.selfFence?.run(this.stop.signal)]).then(
      () => undefined,
      (err: unknown) => log.error("status watcher stopped", { error: describeError(err) }),
    );
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }
}
