// The per-host heartbeat: a coordination.k8s.io Lease renewed by the status watcher while it is
// connected to its host. HA reads it (a lapsed lease makes a host Suspect). Written by
// server-side apply as plain JSON: the typed client's MicroTime has millisecond precision, which
// the API server rejects (ADR 0007).
import { setTimeout as sleep } from "node:timers/promises";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { heartbeatLeaseName } from "../fleet/heartbeat-lease.ts";
import { describeError, type Logger } from "../runtime/log.ts";

const apply = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export interface HeartbeatOptions {
  namespace: string;
  host: string;
  identity: string;
  intervalMs: number;
  /** Renew only while this says the host is connected (a watcher cut off from its host must let the lease lapse). */
  healthy: () => boolean;
}

export class Heartbeat {
  private readonly api: CustomObjectsApi;
  private readonly options: HeartbeatOptions;
  private readonly log: Logger;
  renewals = 0;
  /**
   * When (performance.now()) the last renewal that succeeded was SENT — never later than when the
   * API server stored it, nor than when HA saw it (the Watchdog self-fence counts from here). The
   * start counts as one: a watcher just started gets one full allowance.
   */
  lastRenewedAt = performance.now();

  constructor(kc: KubeConfig, log: Logger, options: HeartbeatOptions) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.options = options;
    this.log = log;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.options.healthy()) await this.renew();
      // timers/promises removes its abort listener when the time is up (one per renewal would pile up)
      await sleep(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async renew(): Promise<void> {
    const { namespace, host, identity, intervalMs } = this.options;
    const name = heartbeatLeaseName(host);
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name, namespace, labels: { "omnivisor.io/host": host } },
      spec: { holderIdentity: identity, leaseDurationSeconds: Math.max(1, Math.ceil((3 * intervalMs) / 1000)), renewTime: microTime(new Date()) },
    };
    const sentAt = performance.now();
    try {
      await this.api.patchNamespacedCustomObject(
        { group: "coordination.k8s.io", version: "v1", namespace, plural: "leases", name, body, fieldManager: "omnivisor-status-watcher", force: true },
        apply,
      );
      this.renewals++;
      this.lastRenewedAt = Math.max(this.lastRenewedAt, sentAt);
    } catch (err) {
      this.log.warn("heartbeat renewal failed", { host, error: describeError(err) });
    }
  }
}
