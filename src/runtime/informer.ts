// An informer cache for one kind: list, then watch from the list's resourceVersion with
// bookmarks; on 410 Gone relist and emit the difference; on any other error or a dropped
// connection restart from the last resourceVersion after a backoff. It never gives up: the
// client library's own informer stops on errors, which leaves a cache silently dead.
// Watches go through @kubernetes/client-node's Watch (auth, TLS, one streaming request).
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { backoffDelay, jitter, sleep } from "./backoff.ts";
import { describeError, statusCode, type Logger } from "./log.ts";
import { collectionPath, keyOf, type KubeObject, type ResourceClient } from "./resource.ts";

export interface InformerHandlers<T> {
  added?(obj: T): void;
  updated?(old: T, obj: T): void;
  deleted?(obj: T): void;
}

export type IndexFn<T> = (obj: T) => string[];

export interface InformerStats {
  lists: number;
  relistsAfterGone: number;
  watchRestarts: number;
  lastError?: string;
}

export interface InformerOptions<T> {
  /** Only this namespace (default: all). */
  namespace?: string;
  labelSelector?: string;
  indexes?: Record<string, IndexFn<T>>;
  /** Watch restart backoff (default 200 ms doubling to 30 s). */
  backoff?: { baseMs: number; capMs: number };
  /** The server ends each watch after about this long; we then resume from where we were. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  /** Applied to every object before it is cached (e.g. dropping fields a read-only cache never reads). */
  transform?: (obj: T) => T;
}

class Gone extends Error {}

export class Informer<T extends KubeObject> {
  readonly stats: InformerStats = { lists: 0, relistsAfterGone: 0, watchRestarts: 0 };
  private readonly objects = new Map<string, T>();
  private readonly indexFns: Record<string, IndexFn<T>>;
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly watch: Watch;
  private resourceVersion = "";
  private syncedFlag = false;
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  /** Controllers sharing this cache that have started it and not yet shut it down. */
  private users = 0;
  private currentWatch: AbortController | undefined;

  private readonly client: ResourceClient<T>;
  private readonly kc: KubeConfig;
  private readonly options: InformerOptions<T>;
  private readonly log: Logger;

  constructor(kc: KubeConfig, client: ResourceClient<T>, log: Logger, options: InformerOptions<T> = {}) {
    this.kc = kc;
    this.client = client;
    this.options = options;
    this.log = log.with({ informer: client.type.plural });
    this.indexFns = options.indexes ?? {};
    for (const name of Object.keys(this.indexFns)) this.indexes.set(name, new Map());
    this.watch = new Watch(kc);
    const timeout = options.watchTimeoutSeconds ?? 300;
    // Inactivity limit: a connection silent for longer than the server's own timeout plus
    // margin (bookmarks arrive about once a minute) is dead and gets restarted. The field is
    // TypeScript-private in client-node 2.0 (default 30 s), hence the cast.
    (this.watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (timeout + 60) * 1000;
    this.syncedPromise = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  /** True once the first list has been loaded into the cache. */
  get synced(): boolean {
    return this.syncedFlag;
  }

  /** Resolves when the cache has been filled by the first list. */
  waitForSync(): Promise<void> {
    return this.syncedPromise;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  /** Objects whose index function returned `value` (e.g. VMs by host). */
  byIndex(index: string, value: string): T[] {
    const keys = this.indexes.get(index)?.get(value);
    if (!this.indexes.has(index)) throw new Error(`no index named ${index}`);
    return keys ? [...keys].map((k) => this.objects.get(k)!).filter(Boolean) : [];
  }

  /** Starts the cache; each caller of start() (a controller sharing it) later calls shutdown() once. */
  start(): void {
    this.users++;
    this.running ??= this.run();
  }

  /** Stops the cache once every caller of start() has shut it down. */
  async shutdown(): Promise<void> {
    if (this.users > 0) this.users--;
    if (this.users > 0) return;
    this.stop.abort();
    this.currentWatch?.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    const backoff = this.options.backoff ?? { baseMs: 200, capMs: 30_000 };
    while (!this.stop.signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist();
        const progressed = await this.watchOnce();
        if (progressed) failures = 0;
      } catch (err) {
        if (this.stop.signal.aborted) break;
        if (err instanceof Gone || statusCode(err) === 410) {
          this.stats.relistsAfterGone++;
          this.log.info("watch expired (410 Gone); relisting", { resourceVersion: this.resourceVersion });
          this.resourceVersion = "";
          continue;
        }
        failures++;
        this.stats.lastError = describeError(err);
        const delay = jitter(backoffDelay(failures, backoff));
        this.log.warn("list/watch failed; restarting after backoff", { error: this.stats.lastError, delayMs: Math.round(delay) });
        await sleep(delay, this.stop.signal);
      }
      if (!this.stop.signal.aborted) this.stats.watchRestarts++;
    }
  }

  /** Lists every page and replaces the cache, emitting what changed since the last list. */
  private async relist(): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let rv = "";
    do {
      // the same label selector as the watch: a scoped manager never sees the other objects at all
      const page = await this.client.listPage({ namespace: this.options.namespace, limit: this.options.pageSize ?? 500, continueToken, labelSelector: this.options.labelSelector });
      items.push(...page.items);
      continueToken = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? "";
    } while (continueToken);
    this.stats.lists++;
    const apiVersion = `${this.client.type.group}/${this.client.type.version}`;
    const seen = new Set<string>();
    for (const item of items) {
      // List items come without apiVersion/kind; handlers and status writes want them.
      const obj = { apiVersion, kind: this.client.type.kind, ...item };
      seen.add(keyOf(obj.metadata));
      this.upsert(obj);
    }
    for (const [key, old] of [...this.objects]) if (!seen.has(key)) this.remove(old);
    this.resourceVersion = rv;
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.resolveSynced();
      this.log.info("cache synced", { objects: this.objects.size });
    }
  }

  /** One watch request; resolves when it ends normally; true if it delivered anything. */
  private async watchOnce(): Promise<boolean> {
    let progressed = false;
    let gone = false;
    let serverError: Error | undefined;
    const ended = new Promise<Error | null>((resolve) => {
      const query: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        // Spread the watches' ends so restarts of many informers do not line up.
        timeoutSeconds: Math.round(jitter(this.options.watchTimeoutSeconds ?? 300, 0.5)),
      };
      if (this.options.labelSelector) query.labelSelector = this.options.labelSelector;
      const onEvent = (type: string, obj: T & { code?: number }): void => {
        if (type === "ERROR") {
          if (obj.code === 410) gone = true;
          else serverError = new Error(`watch error event: ${JSON.stringify(obj).slice(0, 300)}`);
          this.currentWatch?.abort();
          return;
        }
        progressed = true;
        this.apply(type, obj);
      };
      this.watch
        .watch(collectionPath(this.client.type, this.options.namespace), query, onEvent, (err: unknown) => resolve((err as Error | null) ?? null))
        .then((ctl) => {
          this.currentWatch = ctl;
          if (this.stop.signal.aborted || gone || serverError) ctl.abort();
        }, (err: unknown) => resolve(err as Error));
    });
    const err = await ended;
    this.currentWatch = undefined;
    if (gone) throw new Gone("watch expired");
    if (serverError) throw serverError;
    if (err && !this.stop.signal.aborted && err.name !== "AbortError") throw err;
    return progressed;
  }

  private apply(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    if (type === "ADDED" || type === "MODIFIED") this.upsert(obj);
    else if (type === "DELETED") this.remove(obj);
    // BOOKMARK carries only a resourceVersion: remember it so a restart resumes from there.
    if (rv) this.resourceVersion = rv;
  }

  private upsert(received: T): void {
    const obj = this.options.transform ? this.options.transform(received) : received;
    const key = keyOf(obj.metadata);
    const old = this.objects.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.objects.set(key, obj);
    this.index(key, obj);
    for (const h of this.handlers) {
      if (old) h.updated?.(old, obj);
      else h.added?.(obj);
    }
  }

  private remove(obj: T): void {
    const key = keyOf(obj.metadata);
    const old = this.objects.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.objects.delete(key);
    for (const h of this.handlers) h.deleted?.(old);
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexFns)) {
      const idx = this.indexes.get(name)!;
      for (const value of fn(obj)) {
        let set = idx.get(value);
        if (!set) idx.set(value, (set = new Set()));
        set.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexFns)) {
      const idx = this.indexes.get(name)!;
      for (const value of fn(obj)) {
        idx.get(value)?.delete(key);
        if (idx.get(value)?.size === 0) idx.delete(value);
      }
    }
  }
}
