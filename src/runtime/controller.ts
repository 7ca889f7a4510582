// One controller per kind: an informer cache feeds a keyed work queue; workers run a level-based
// reconcile for one key at a time, then the framework writes status once, only if it changed.
// Caches run on every replica (a standby is warm and ready); workers run only on the leader.
import type { KubeConfig } from "@kubernetes/client-node";
import type { BackoffOptions } from "./backoff.ts";
import { Synced, setCondition, type ConditionInput, type WithConditions } from "./conditions.ts";
import type { EventRecorder, EventType } from "./events.ts";
import { ensureFinalizer, removeFinalizer, type AnnotationChanges, type FinalizerOptions } from "./finalizers.ts";
import type { Informer, IndexFn } from "./informer.ts";
import { describeError, statusCode, type Logger } from "./log.ts";
import { settleReadiness, type ReadinessRules } from "./readiness.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { ResourceClient, keyOf, type KubeObject, type ResourceType } from "./resource.ts";
import { newCache, type SharedInformers } from "./shared-informers.ts";
import { sameJson, statusOnlyChange } from "./status.ts";
import { WorkQueue } from "./work-queue.ts";

export interface ReconcileResult {
  /** Reconcile this key again after so long (polling an operation), without counting a failure. */
  requeueAfterMs?: number;
}

/** An error retrying cannot fix (invalid spec): recorded in Synced, not retried until the object changes. */
export class TerminalError extends Error {
  override name = "TerminalError";
}

export interface Status extends WithConditions {
  observedGeneration?: number;
}

export interface ReconcileContext<T extends KubeObject, S extends Status> {
  readonly key: string;
  /** The object as the cache holds it; do not mutate. */
  readonly object: T;
  /** A copy of the object's status: change it, and it is written once when the pass ends. */
  readonly status: S;
  /** Aborts when this replica stops reconciling (shutdown, lost leadership). */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Sets a condition in `status` with this object's generation as observedGeneration. */
  setCondition(condition: Omit<ConditionInput, "observedGeneration">): void;
  /** Records an aggregated Kubernetes Event on the object. */
  event(type: EventType, reason: string, message: string): void;
  /** Adds the finalizer unless present, with annotations set (or dropped: undefined) in the same write. */
  ensureFinalizer(name: string, annotations?: AnnotationChanges, options?: FinalizerOptions): Promise<boolean>;
  removeFinalizer(name: string): Promise<boolean>;
  /**
   * Waits for work; should it take longer than afterMs, writes `status` as it is now meanwhile, so
   * users see progress (a slow create) before the pass ends. The pass's own write still follows.
   */
  statusWhileWaiting<R>(work: Promise<R>, afterMs?: number): Promise<R>;
  /**
   * Writes `status` as it is now, before the pass ends: for a record that must be on the server
   * before the next step (a move's ends before its hypervisor job). Nothing is written once this
   * replica stopped leading (check `signal`); a failed write throws.
   */
  writeStatus(): Promise<void>;
  /** Read access to the whole cache (other objects of the kind, indexes). */
  readonly cache: Pick<Informer<T>, "get" | "list" | "byIndex">;
}

export interface Reconciler<T extends KubeObject, S extends Status> {
  reconcile(ctx: ReconcileContext<T, S>): Promise<ReconcileResult | void>;
}

export interface ControllerOptions<T extends KubeObject, S extends Status> {
  name: string;
  resource: ResourceType;
  reconciler: Reconciler<T, S>;
  /** Keys reconciled at the same time (default 2). */
  concurrency?: number;
  /** Per-key failure backoff (default 100 ms doubling to 5 min). */
  backoff?: BackoffOptions;
  /** Reconcile every cached object this often even without changes (drift correction). */
  resyncPeriodMs?: number;
  namespace?: string;
  indexes?: Record<string, IndexFn<T>>;
  /**
   * "apply" (default): server-side apply of the whole status. "replace": an update that carries
   * the resourceVersion the pass read, for a status others write too (a VDCQuota's ledger, charged
   * by the admission webhook); a conflict runs the pass again at once from the newer object.
   */
  statusWrite?: "apply" | "replace";
  /**
   * Whether an update of a cached object wakes its key at once (default: every update but our
   * own status write). A controller that paces some updates itself (a VDCQuota's ledger, charged
   * by the webhook in bursts) says no to those and queues them its own way.
   */
  wakeOnUpdate?: (old: T, obj: T) => boolean;
  /** Which Ready=False reasons mean Stalled rather than Reconciling (kstatus; src/runtime/readiness.ts). */
  readiness?: ReadinessRules;
}

export interface ControllerDeps {
  kc: KubeConfig;
  /** Watch only this namespace (the manager's --watch-namespace); a controller's own option wins. */
  namespace?: string;
  log: Logger;
  metrics: RuntimeMetrics;
  events: EventRecorder;
  /** The manager's caches, shared by its controllers (without it each controller keeps its own). */
  caches?: SharedInformers;
}

export class Controller<T extends KubeObject, S extends Status = Status> {
  readonly name: string;
  readonly informer: Informer<T>;
  readonly queue: WorkQueue;
  private readonly client: ResourceClient<T>;
  /**
   * The status we last applied (or are applying) per key, and the version it produced. Recorded
   * before the apply: its watch event can arrive before the apply's response does.
   */
  private readonly ourStatus = new Map<string, { status: unknown; resourceVersion?: string }>();
  private readonly options: ControllerOptions<T, S>;
  private readonly deps: ControllerDeps;
  private readonly log: Logger;
  private readonly stopWorkers = new AbortController();
  private workers: Promise<void>[] = [];
  private resync: NodeJS.Timeout | undefined;

  constructor(options: ControllerOptions<T, S>, deps: ControllerDeps) {
    this.name = options.name;
    this.options = options;
    this.deps = deps;
    this.log = deps.log.with({ controller: options.name });
    this.client = new ResourceClient<T>(deps.kc, options.resource);
    const namespace = options.namespace ?? deps.namespace;
    // A cache with indexes of its own cannot be shared.
    this.informer =
      deps.caches && !options.indexes
        ? deps.caches.informer<T>(options.resource, namespace)
        : newCache<T>(deps.kc, options.resource, this.log, { namespace, indexes: options.indexes });
    this.queue = new WorkQueue(options.backoff ?? { baseMs: 100, capMs: 300_000 }, deps.metrics.queueObserver(options.name));
    // at 0 from the start: a controller's first failure is an increase rate() can see
    deps.metrics.reconcileErrors.inc({ controller: options.name }, 0);
    this.informer.on({
      added: (obj) => this.queue.add(keyOf(obj.metadata)),
      updated: (old, obj) => {
        // Our own status write comes back as an update: it needs no pass of its own.
        const key = keyOf(obj.metadata);
        const ours = this.ourStatus.get(key);
        // Once the cache holds our write, the copy kept for a lagging cache is not needed: at
        // 10,000 VMs it was a second copy of every status.
        if (ours?.resourceVersion !== undefined && !newer(ours.resourceVersion, obj.metadata.resourceVersion)) this.ourStatus.delete(key);
        if (ours && statusOnlyChange(old, obj) && sameJson(obj.status, ours.status)) return;
        if (options.wakeOnUpdate && !options.wakeOnUpdate(old, obj)) return;
        this.queue.add(key);
      },
      deleted: (obj) => {
        this.queue.forget(keyOf(obj.metadata));
        this.ourStatus.delete(keyOf(obj.metadata));
      },
    });
  }

  /** Statuses we wrote that the cache has not shown yet (each is kept until it does). */
  get statusesAwaitingCache(): number {
    return this.ourStatus.size;
  }

  /** Starts the cache (every replica). */
  startCache(): void {
    this.informer.start();
  }

  /** Starts the workers (leader only), once the cache is synced. */
  async startWorkers(): Promise<void> {
    await this.informer.waitForSync();
    if (this.stopWorkers.signal.aborted) return;
    const n = this.options.concurrency ?? 2;
    this.workers = Array.from({ length: n }, () => this.work());
    if (this.options.resyncPeriodMs) {
      this.resync = setInterval(() => this.informer.keys().forEach((k) => this.queue.add(k)), this.options.resyncPeriodMs);
    }
    this.log.info("workers started", { concurrency: n });
  }

  /** Graceful: stop taking keys, let in-flight reconciles finish, stop the cache. */
  async stop(): Promise<void> {
    clearInterval(this.resync);
    await this.queue.shutdown();
    await Promise.all(this.workers);
    await this.informer.shutdown();
  }

  /** Immediate: abort every in-flight reconcile now (lost leadership). */
  abort(): void {
    clearInterval(this.resync);
    this.stopWorkers.abort();
    void this.queue.shutdown();
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined || this.stopWorkers.signal.aborted) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const obj = this.informer.get(key);
    if (!obj) return this.queue.forget(key); // gone: finalizers did the cleanup already
    const log = this.log.with({ key });
    const { metrics } = this.deps;
    const stopTimer = metrics.reconcileDuration.startTimer({ controller: this.name });
    // Start from the newest status known: the cache may not have seen our last write yet, and a
    // pass built on an older status would rewrite it (with fresh transition times).
    const last = this.ourStatus.get(key);
    const cacheLags = last?.resourceVersion !== undefined && newer(last.resourceVersion, obj.metadata.resourceVersion);
    const current = cacheLags ? last.status : (obj.status ?? {});
    const status = structuredClone(current) as S;
    const generation = obj.metadata.generation;
    // what the server holds: `current`, or a status written during the pass (statusWhileWaiting)
    let written: unknown = current;
    const writeNow = async (): Promise<void> => {
      if (this.stopWorkers.signal.aborted) return; // leadership lost: write nothing
      const snapshot = succeeded(structuredClone(status), generation, this.options.readiness);
      await this.writeStatus(key, obj, { current: written, next: snapshot }, log);
      written = snapshot;
    };
    const ctx = this.context(key, obj, status, log, writeNow);
    let result: ReconcileResult | void = undefined;
    let failure: unknown;
    try {
      result = await this.options.reconciler.reconcile(ctx);
      succeeded(status, generation, this.options.readiness);
    } catch (err) {
      failure = err;
      const message = describeError(err);
      setCondition(status, { type: Synced, status: "False", reason: "ReconcileError", message, observedGeneration: generation });
      // observed, though not done: the conditions say so (kstatus reads a lagging generation as InProgress, hiding Stalled)
      status.observedGeneration = generation;
      settleReadiness(status, this.options.readiness ?? {}, { generation, failure: { terminal: err instanceof TerminalError, message } });
    }
    if (this.stopWorkers.signal.aborted) return; // leadership lost mid-pass: write nothing more
    try {
      await this.writeStatus(key, obj, { current: written, next: status }, log);
    } catch (err) {
      if (failure === undefined && this.options.statusWrite === "replace" && statusCode(err) === 409) {
        // someone else wrote the status since the pass read it: not a failure, pass again on the newer object
        stopTimer();
        log.debug("status changed meanwhile; reconciling again", {});
        this.queue.forget(key);
        this.queue.addAfter(key, 20);
        return;
      }
      failure ??= err;
    }
    stopTimer();
    this.finish(key, obj, failure, result, log);
  }

  private finish(key: string, obj: T, failure: unknown, result: ReconcileResult | void, log: Logger): void {
    const { metrics } = this.deps;
    if (failure === undefined) {
      this.queue.forget(key);
      const after = result?.requeueAfterMs;
      metrics.reconcileTotal.inc({ controller: this.name, result: after ? "requeue" : "success" });
      log.debug("reconciled", after ? { requeueAfterMs: after } : {});
      if (after) this.queue.addAfter(key, after);
      return;
    }
    metrics.reconcileTotal.inc({ controller: this.name, result: "error" });
    metrics.reconcileErrors.inc({ controller: this.name });
    const message = describeError(failure);
    void this.deps.events.record(obj, "Warning", "ReconcileError", message);
    if (failure instanceof TerminalError) {
      this.queue.forget(key);
      log.error("reconcile failed; not retrying until the object changes", { error: message });
      return;
    }
    const delay = this.queue.addRateLimited(key);
    log.warn("reconcile failed; retrying after backoff", { error: message, attempt: this.queue.failuresOf(key), delayMs: delay });
  }

  private async writeStatus(key: string, obj: T, { current, next: status }: { current: unknown; next: S }, log: Logger): Promise<void> {
    if (sameJson(status, current)) return;
    this.ourStatus.set(key, { status });
    try {
      const written = this.options.statusWrite === "replace" ? await this.client.replaceStatus(obj.metadata, status) : await this.client.applyStatus(obj.metadata, status);
      const rv = written.metadata?.resourceVersion;
      // the cache may have seen this write already (its watch event can beat the response)
      const cached = this.informer.get(key)?.metadata.resourceVersion;
      if (rv !== undefined && cached !== undefined && !newer(rv, cached)) this.ourStatus.delete(key);
      else this.ourStatus.set(key, { status, resourceVersion: rv });
      this.deps.metrics.statusWrites.inc({ controller: this.name });
      log.debug("status written", { resourceVersion: rv });
    } catch (err) {
      this.ourStatus.delete(key);
      if (statusCode(err) === 404) return; // deleted meanwhile
      throw err;
    }
  }

  private context(key: string, obj: T, status: S, log: Logger, writeNow: () => Promise<void>): ReconcileContext<T, S> {
    const generation = obj.metadata.generation;
    return {
      key,
      object: obj,
      status,
      signal: this.stopWorkers.signal,
      log,
      cache: this.informer,
      setCondition: (c) => void setCondition(status, { ...c, observedGeneration: generation }),
      event: (type, reason, message) => void this.deps.events.record(obj, type, reason, message),
      ensureFinalizer: (name, annotations, options) => ensureFinalizer(this.client, obj, name, annotations, options),
      statusWhileWaiting: async <R>(work: Promise<R>, afterMs = 1_000): Promise<R> => {
        let writing: Promise<void> | undefined;
        const timer = setTimeout(() => {
          writing = writeNow().catch((err: unknown) => log.warn("could not write status while waiting", { error: describeError(err) }));
        }, afterMs);
        try {
          return await work;
        } finally {
          clearTimeout(timer);
          await writing;
        }
      },
      removeFinalizer: (name) => removeFinalizer(this.client, obj, name),
      writeStatus: writeNow,
    };
  }
}

/** A status as a successful pass leaves it: this generation observed, Synced=True, Ready / Reconciling / Stalled. */
function succeeded<S extends Status>(status: S, generation: number | undefined, readiness: ReadinessRules = {}): S {
  status.observedGeneration = generation;
  setCondition(status, { type: Synced, status: "True", reason: "ReconcileSuccess", observedGeneration: generation });
  settleReadiness(status, readiness, { generation });
  return status;
}

/** resourceVersions are opaque, but etcd's are integers; anything else is never "newer". */
function newer(a: string, b: string | undefined): boolean {
  if (!b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
