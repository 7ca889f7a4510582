// A controller that also reads other kinds' caches (a Host needs the VMs placed on it; a VM needs
// the Hosts). The extra informers start with the controller's own, workers start only once all
// of them are synced, and /readyz waits for all of them.
import type { Controller, ControllerDeps, Status } from "./controller.ts";
import type { Informer } from "./informer.ts";
import type { ManagedController } from "./registry.ts";
import type { KubeObject, ResourceType } from "./resource.ts";
import { newCache } from "./shared-informers.ts";

/**
 * A cache of another kind — the manager's shared one when there is one; `namespace` (the manager's
 * --watch-namespace) applies to namespaced kinds only.
 */
export function readOnlyCache<T extends KubeObject>(deps: Pick<ControllerDeps, "kc" | "log" | "caches">, type: ResourceType, namespace?: string): Informer<T> {
  if (deps.caches) return deps.caches.informer<T>(type, namespace);
  return newCache<T>(deps.kc, type, deps.log, { namespace });
}

/** Cluster-scoped kinds are watched cluster-wide whatever --watch-namespace says. */
export function clusterScoped<D extends { namespace?: string }>(deps: D): D {
  return { ...deps, namespace: undefined };
}

export class ControllerWithCaches<T extends KubeObject, S extends Status> implements ManagedController {
  readonly name: string;
  private readonly controller: Controller<T, S>;
  private readonly caches: Informer<KubeObject>[];
  private readonly onStop: () => Promise<void>;
  private readonly onAbort: (() => void) | undefined;

  /** onStop: after a graceful stop; onAbort: at once when leadership is lost (no more outside calls). */
  constructor(controller: Controller<T, S>, caches: Informer<KubeObject>[], onStop: () => Promise<void> = async () => {}, onAbort?: () => void) {
    this.name = controller.name;
    this.controller = controller;
    this.caches = caches;
    this.onStop = onStop;
    this.onAbort = onAbort;
  }

  get informer(): ManagedController["informer"] {
    const own = this.controller.informer;
    const caches = this.caches;
    return {
      get synced() {
        return own.synced && caches.every((c) => c.synced);
      },
      stats: own.stats,
      get: (key) => own.get(key),
    };
  }

  startCache(): void {
    for (const c of this.caches) c.start();
    this.controller.startCache();
  }

  async startWorkers(): Promise<void> {
    await Promise.all(this.caches.map((c) => c.waitForSync()));
    await this.controller.startWorkers();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    await Promise.all(this.caches.map((c) => c.shutdown()));
    await this.onStop();
  }

  abort(): void {
    this.controller.abort();
    this.onAbort?.();
  }
}
