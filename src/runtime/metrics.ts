// The runtime's Prometheus metrics, in one registry per manager process (tests run several
// managers in one process, so nothing goes into prom-client's global registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { QueueObserver } from "./work-queue.ts";

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly statusWrites: Counter<"controller">;
  readonly queueDepth: Gauge<"name">;
  readonly queueAdds: Counter<"name">;
  readonly queueLatency: Histogram<"name">;
  readonly queueRetries: Counter<"name">;
  readonly leader: Gauge<"lease">;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reconcileTotal = new Counter({ name: "omnivisor_reconcile_total", help: "Reconcile passes by controller and result (success, error, requeue).", labelNames: ["controller", "result"], registers });
    this.reconcileErrors = new Counter({ name: "omnivisor_reconcile_errors_total", help: "Reconcile passes that failed.", labelNames: ["controller"], registers });
    this.reconcileDuration = new Histogram({
      name: "omnivisor_reconcile_duration_seconds",
      help: "Time one reconcile pass took.",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.statusWrites = new Counter({ name: "omnivisor_status_writes_total", help: "Status subresource applies (only made when the status changed).", labelNames: ["controller"], registers });
    this.queueDepth = new Gauge({ name: "omnivisor_workqueue_depth", help: "Keys waiting in the work queue.", labelNames: ["name"], registers });
    this.queueAdds = new Counter({ name: "omnivisor_workqueue_adds_total", help: "Keys added to the work queue.", labelNames: ["name"], registers });
    this.queueLatency = new Histogram({
      name: "omnivisor_workqueue_queue_duration_seconds",
      help: "Time a key waited in the queue before a worker took it.",
      labelNames: ["name"],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.queueRetries = new Counter({ name: "omnivisor_workqueue_retries_total", help: "Keys re-added after a failed reconcile (with backoff).", labelNames: ["name"], registers });
    this.leader = new Gauge({ name: "omnivisor_leader", help: "1 while this replica holds the leader lease.", labelNames: ["lease"], registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  queueObserver(name: string): QueueObserver {
    return {
      added: () => this.queueAdds.inc({ name }),
      depth: (n) => this.queueDepth.set({ name }, n),
      latency: (s) => this.queueLatency.observe({ name }, s),
      retried: () => this.queueRetries.inc({ name }),
    };
  }
}
