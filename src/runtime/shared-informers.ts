// One cache per kind (and namespace) for all the controllers of a manager. The VM controller and
// the Host controller both follow every VirtualMachine; at 10,000 VMs two caches of them were
// most of the operator's memory (ADR 0012). Objects are cached with compacted managedFields.
import type { KubeConfig } from "@kubernetes/client-node";
import { compactManagedFields } from "./finalizers.ts";
import { Informer, type IndexFn } from "./informer.ts";
import type { Logger } from "./log.ts";
import { ResourceClient, type KubeObject, type ResourceType } from "./resource.ts";

/**
 * A cache of one kind as every cache here is kept: managedFields compacted, and `namespace` (the
 * manager's --watch-namespace) applied to namespaced kinds only.
 */
export function newCache<T extends KubeObject>(kc: KubeConfig, type: ResourceType, log: Logger, options: { namespace?: string | undefined; indexes?: Record<string, IndexFn<T>> | undefined; labelSelector?: string | undefined } = {}): Informer<T> {
  const namespace = type.namespaced ? options.namespace : undefined;
  return new Informer<T>(kc, new ResourceClient<T>(kc, type), log, {
    ...(namespace ? { namespace } : {}),
    ...(options.indexes ? { indexes: options.indexes } : {}),
    ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    transform: compactManagedFields,
  });
}

export class SharedInformers {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly kc: KubeConfig;
  private readonly log: Logger;
  /** Label selectors by plural ("hosts"): the manager serves only the objects of a kind that match. */
  private readonly selectors: Record<string, string>;

  constructor(kc: KubeConfig, log: Logger, selectors: Record<string, string> = {}) {
    this.kc = kc;
    this.log = log;
    this.selectors = selectors;
  }

  /** The cache of a kind; `namespace` applies to namespaced kinds only (cluster-scoped ones are cached whole). */
  informer<T extends KubeObject>(type: ResourceType, namespace?: string): Informer<T> {
    const ns = type.namespaced ? namespace : undefined;
    const key = `${type.plural}.${type.group}/${type.version}@${ns ?? "*"}`;
    let informer = this.informers.get(key);
    if (!informer) {
      informer = newCache<KubeObject>(this.kc, type, this.log, { namespace: ns, labelSelector: this.selectors[type.plural] });
      this.informers.set(key, informer);
    }
    return informer as unknown as Informer<T>;
  }

  get size(): number {
    return this.informers.size;
  }
}
