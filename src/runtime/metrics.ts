// The runtime's Prometheus metrics, in one registry per manager process (tests run several
// managers in one process, so nothing goes into prom-client's global registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { QueueObserver } from "./work-queue.ts";

/** Labels of the per-host gauges (namespace: empty for the cluster-scoped Host; pool: empty outside pools). */
export type HostLabel = "host" | "namespace" | "pool" | "datacenter";

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
  /** Live usage per host (src/fleet/live-usage.ts): metrics, never status (ADR 0037). */
  readonly hostCpuUsage: Gauge<HostLabel>;
  readonly hostMemoryUsed: Gauge<HostLabel>;
  readonly hostMemoryCapacity: Gauge<HostLabel>;
  readonly hostCpuCapacity: Gauge<HostLabel>;
  /** The sum of the host's managed VMs' own usage (observeVmUsage): what DRS weighs the host by. Per host, never per VM (ADR 0035). */
  readonly hostVmsCpuUsage: Gauge<HostLabel>;
  readonly hostVmsMemoryUsed: Gauge<HostLabel>;

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
    const hostLabels: HostLabel[] = ["host", "namespace", "pool", "datacenter"];
    this.hostCpuUsage = new Gauge({ name: "omnivisor_host_cpu_usage_ratio", help: "CPU in use on the host, 0-1 of its capacity, as its hypervisor last reported it.", labelNames: hostLabels, registers });
    this.hostMemoryUsed = new Gauge({ name: "omnivisor_host_memory_used_bytes", help: "Memory in use on the host, as its hypervisor last reported it.", labelNames: hostLabels, registers });
    this.hostMemoryCapacity = new Gauge({ name: "omnivisor_host_memory_capacity_bytes", help: "Physical memory of the host.", labelNames: hostLabels, registers });
    this.hostCpuCapacity = new Gauge({ name: "omnivisor_host_cpu_capacity_cores", help: "Physical CPUs of the host.", labelNames: hostLabels, registers });
    this.hostVmsCpuUsage = new Gauge({
      name: "omnivisor_host_vms_cpu_usage_cores",
      help: "CPUs busy in the host's managed VMs, summed, as its hypervisor last reported each VM's own usage (absent when the driver reports none).",
      labelNames: hostLabels,
      registers,
    });
    this.hostVmsMemoryUsed = new Gauge({
      name: "omnivisor_host_vms_memory_used_bytes",
      help: "Memory in use by the host's managed VMs, summed, as its hypervisor last reported each VM's own usage (absent when the driver reports none).",
      labelNames: hostLabels,
      registers,
    });
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
