// Leader election on a coordination.k8s.io Lease, the algorithm of client-go's leaderelection
// (which @kubernetes/client-node does not have): a candidate takes the lease when it is free or
// when its record has not changed for a whole lease duration *as observed by this process's own
// clock* (no clock-skew assumptions); the leader renews every retry period and gives up when it
// could not renew for the renew deadline. Updates carry the resourceVersion, so two candidates
// cannot both win a round. Release on graceful shutdown empties the holder so a standby takes
// over at its next retry instead of waiting out the lease.
// Leases go through CustomObjectsApi as plain JSON: client-node 2.0's typed CoordinationV1Api
// serialises MicroTime with millisecond precision, which the API server rejects (HTTP 400).
import { CustomObjectsApi, Watch, type KubeConfig } from "@kubernetes/client-node";
import { jitter, sleep } from "./backoff.ts";
import { describeError, statusCode, type Logger } from "./log.ts";

/** acquired: we hold it now; held: another replica validly holds it; failed: could not tell. */
type Attempt = "acquired" | "held" | "failed";

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Elapsed time for expiry and deadlines: monotonic, so a wall clock stepped by NTP or by hand can
 * neither end a leadership early nor stretch one (two leaders) — only the Lease's renewTime, which
 * other replicas read as a record (not as a time), is written from the wall clock.
 */
const monotonicMs = (): number => performance.now();

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, "000Z");
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export class LeaderElector {
  private readonly api: CustomObjectsApi;
  private readonly watch: Watch;
  private readonly log: Logger;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly namespace: string;
  private readonly name: string;
  private observed: { record: string; at: number } | undefined;
  private leading = false;

  constructor(kc: KubeConfig, log: Logger, options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.watch = new Watch(kc);
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs * 1.2)) {
      throw new Error("leader election needs lease duration > renew deadline > 1.2 × retry period");
    }
    this.log = log.with({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica holds the lease (or never, if the signal aborts first: then false). */
  async acquire(signal: AbortSignal): Promise<boolean> {
    // Besides polling every retry period, watch the Lease: a release (empty holder) wakes us at
    // once, so a graceful hand-over takes one round trip instead of up to a retry period.
    const watching = new AbortController();
    let wake = (): void => {};
    void this.watchForRelease(watching.signal, () => wake());
    try {
      while (!signal.aborted) {
        if ((await this.tryAcquireOrRenew()) === "acquired") {
          this.leading = true;
          this.log.info("became leader");
          return true;
        }
        const nap = new AbortController();
        wake = () => nap.abort();
        await sleep(jitter(this.retryPeriodMs), AbortSignal.any([signal, nap.signal]));
      }
      return false;
    } finally {
      watching.abort();
    }
  }

  /** Renews until the renew deadline passes without a successful renewal (or the signal aborts). */
  async holdUntilLost(signal: AbortSignal): Promise<void> {
    let lastRenew = monotonicMs();
    while (!signal.aborted) {
      await sleep(this.retryPeriodMs, signal);
      if (signal.aborted) return;
      // A hung request must not stretch leadership past the renew deadline.
      const left = this.renewDeadlineMs - (monotonicMs() - lastRenew);
      const attempt = await Promise.race([this.tryAcquireOrRenew(), sleep(Math.max(left, 0)).then((): Attempt => "failed")]);
      if (attempt === "acquired") {
        lastRenew = monotonicMs();
        continue;
      }
      if (attempt === "held") {
        this.leading = false;
        this.log.error("lost leadership: another replica holds the lease");
        return;
      }
      if (monotonicMs() - lastRenew >= this.renewDeadlineMs) {
        this.leading = false;
        this.log.error("lost leadership: could not renew the lease within the renew deadline");
        return;
      }
    }
  }

  /** Gives the lease up (graceful shutdown), so a standby need not wait out the lease duration. */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime(new Date());
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await this.replace(lease);
      this.log.info("released the lease");
    } catch (err) {
      this.log.warn("could not release the lease", { error: describeError(err) });
    }
  }

  /** Calls wake whenever the Lease shows no holder; ends with the signal. Errors only end it early. */
  private async watchForRelease(signal: AbortSignal, wake: () => void): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const onEvent = (_type: string, obj: Lease): void => {
          if (!obj.spec?.holderIdentity) wake();
        };
        this.watch.watch(path, { fieldSelector: `metadata.name=${this.name}` }, onEvent, () => resolve()).then(
          (ctl) => (signal.aborted ? ctl.abort() : signal.addEventListener("abort", () => ctl.abort(), { once: true })),
          () => resolve(),
        );
      });
      await sleep(this.retryPeriodMs, signal); // polling still works meanwhile
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const now = microTime(new Date());
    try {
      let lease: Lease;
      try {
        lease = await this.read();
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        await this.api.createNamespacedCustomObject({ ...this.coordinates(), namespace: this.namespace, body: this.newLease(now) });
        return "acquired";
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds, spec.leaseTransitions]);
      if (this.observed?.record !== record) this.observed = { record, at: monotonicMs() };
      const holder = spec.holderIdentity;
      const duration = (spec.leaseDurationSeconds ?? 0) * 1000;
      if (holder && holder !== this.identity && this.observed.at + duration > monotonicMs()) return "held";
      const ours = holder === this.identity;
      lease.spec = {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
        acquireTime: ours ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: ours ? spec.leaseTransitions : (spec.leaseTransitions ?? 0) + 1,
      };
      const updated = await this.replace(lease);
      const s = updated.spec ?? {};
      this.observed = { record: JSON.stringify([s.holderIdentity, s.renewTime, s.leaseDurationSeconds, s.leaseTransitions]), at: monotonicMs() };
      return "acquired";
    } catch (err) {
      if (statusCode(err) !== 409) this.log.warn("lease update failed", { error: describeError(err) });
      return "failed";
    }
  }

  private coordinates(): { group: string; version: string; plural: string } {
    return { group: "coordination.k8s.io", version: "v1", plural: "leases" };
  }

  private async read(): Promise<Lease> {
    return (await this.api.getNamespacedCustomObject({ ...this.coordinates(), namespace: this.namespace, name: this.name })) as Lease;
  }

  /** Replace carries the resourceVersion read: a concurrent winner makes this fail with 409. */
  private async replace(lease: Lease): Promise<Lease> {
    return (await this.api.replaceNamespacedCustomObject({ ...this.coordinates(), namespace: this.namespace, name: this.name, body: lease })) as Lease;
  }

  private newLease(now: string): Lease {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
  }
}
