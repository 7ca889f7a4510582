// The controller manager: every replica runs the caches, /metrics, /healthz and /readyz; the one
// holding the Lease runs the controllers' workers. Losing the lease aborts every reconcile at once
// and ends run() (the process then exits, as client-go's managers do: a clean restart is safer
// than resuming with state from a term it no longer owns). A graceful stop drains in-flight
// reconciles and releases the lease for an immediate takeover.
import type { KubeConfig } from "@kubernetes/client-node";
import { EventRecorder } from "./events.ts";
import { HealthServer } from "./health-server.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader-election.ts";
import type { Logger } from "./log.ts";
import { RuntimeMetrics } from "./metrics.ts";
import type { AdmissionRegistration, ControllerRegistration, ManagedAdmission, ManagedController } from "./registry.ts";
import { SharedInformers } from "./shared-informers.ts";
import { WebhookServer } from "./webhook-server.ts";

export interface ManagerOptions {
  kc: KubeConfig;
  log: Logger;
  controllers: ControllerRegistration[];
  /** undefined: no leader election (a single replica reconciles unconditionally). */
  leaderElection?: LeaderElectionOptions;
  /** Port for /metrics, /healthz, /readyz (0: any free one; undefined: no server). */
  metricsPort?: number;
  metricsHost?: string;
  /** Watch only this namespace (default: all). */
  watchNamespace?: string;
  /** Serve only the objects of a kind (by plural) that match a label selector, e.g. { hosts: "team=a" }. */
  labelSelectors?: Record<string, string>;
  /** The admission webhook (HTTPS, every replica); undefined: none. /readyz waits until it serves. */
  webhook?: WebhookOptions;
}

export interface WebhookOptions {
  port: number;
  host: string;
  certFile: string;
  keyFile: string;
  handlers: AdmissionRegistration[];
}

export type ManagerExit = "stopped" | "lost-leadership";

export class Manager {
  readonly metrics = new RuntimeMetrics();
  readonly controllers: ManagedController[];
  readonly elector: LeaderElector | undefined;
  private readonly server: HealthServer;
  private readonly options: ManagerOptions;
  private readonly log: Logger;
  private readonly admissions: ManagedAdmission[];
  private readonly webhook: WebhookServer | undefined;
  port: number | undefined;
  webhookPort: number | undefined;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.log = options.log;
    const events = new EventRecorder(options.kc, options.log);
    const caches = new SharedInformers(options.kc, options.log, options.labelSelectors);
    const deps = { kc: options.kc, log: options.log, metrics: this.metrics, events, namespace: options.watchNamespace, caches };
    this.controllers = options.controllers.map((r) => r.create(deps));
    this.admissions = options.webhook?.handlers.map((r) => r.create(deps)) ?? [];
    this.webhook = options.webhook
      ? new WebhookServer({ certFile: options.webhook.certFile, keyFile: options.webhook.keyFile, handlers: this.admissions, log: options.log, registry: this.metrics.registry })
      : undefined;
    this.elector = options.leaderElection ? new LeaderElector(options.kc, options.log, options.leaderElection) : undefined;
    this.server = new HealthServer({ registry: this.metrics.registry, ready: () => this.ready() });
  }

  /** Every cache synced, and the admission webhook (if any) answering. */
  ready(): boolean {
    return this.controllers.every((c) => c.informer.synced) && (this.webhook?.serving ?? true);
  }

  /** Runs until the signal aborts (graceful) or leadership is lost. */
  async run(signal: AbortSignal): Promise<ManagerExit> {
    if (this.options.metricsPort !== undefined) {
      this.port = await this.server.listen(this.options.metricsPort, this.options.metricsHost);
      this.log.info("serving /metrics, /healthz, /readyz", { host: this.options.metricsHost ?? "127.0.0.1", port: this.port });
    }
    for (const c of this.controllers) c.startCache();
    await this.serveWebhook();
    const leaseLabel = { lease: this.options.leaderElection?.name ?? "none" };
    let lost = false;
    this.metrics.leader.set(leaseLabel, 0);
    try {
      if (this.elector && !(await this.elector.acquire(signal))) return "stopped";
      this.metrics.leader.set(leaseLabel, 1);
      // Workers start once their caches sync; renewing starts now, so a cache that is slow to
      // sync cannot let the lease lapse while this replica still believes it leads.
      void Promise.all(this.controllers.map((c) => c.startWorkers()));
      if (this.elector) {
        await this.elector.holdUntilLost(signal);
        if (!signal.aborted) {
          // Another replica may already reconcile: stop everything now, write nothing more.
          for (const c of this.controllers) c.abort();
          this.metrics.leader.set(leaseLabel, 0);
          lost = true;
          return "lost-leadership";
        }
      } else {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      }
      return "stopped";
    } finally {
      // After a lost lease nothing is drained: the process exits and in-flight work is abandoned.
      if (lost) await this.server.close();
      else await this.shutdown(leaseLabel);
      await this.webhook?.close();
    }
  }

  /** Serves the webhook's certificate files again after they were renewed. */
  async reloadWebhookCertificates(): Promise<void> {
    await this.webhook?.reload();
  }

  /** The webhook serves on every replica, leader or not; its handlers answer once their caches are synced. */
  private async serveWebhook(): Promise<void> {
    const options = this.options.webhook;
    if (!this.webhook || !options) return;
    for (const a of this.admissions) for (const c of a.caches) c.start();
    this.webhookPort = await this.webhook.listen(options.port, options.host);
    this.log.info("serving the admission webhook", { host: options.host, port: this.webhookPort, paths: this.admissions.map((a) => a.path) });
  }

  private async shutdown(leaseLabel: { lease: string }): Promise<void> {
    this.log.info("shutting down: draining in-flight reconciles");
    await Promise.all(this.controllers.map((c) => c.stop()));
    await this.webhook?.close();
    await Promise.all(this.admissions.flatMap((a) => a.caches.map((c) => c.shutdown())));
    await this.elector?.release();
    this.metrics.leader.set(leaseLabel, 0);
    await this.server.close();
  }
}
