// The Kubernetes objects the runtime handles, as plain JSON (custom resources come back from the
// API untyped), and the calls it makes on them through @kubernetes/client-node's CustomObjectsApi.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
  managedFields?: unknown[];
}

/** An owner of an object (the garbage collector deletes the object after its controller owner). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

/** Which kind a controller watches. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const fieldManager = "omnivisor";

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** "namespace/name" for namespaced objects, "name" for cluster-scoped ones (as client-go). */
export function keyOf(meta: { name: string; namespace?: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function collectionPath(r: ResourceType, namespace?: string): string {
  const root = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace ? `${root}/namespaces/${namespace}/${r.plural}` : `${root}/${r.plural}`;
}

export interface ObjectList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

const applyOptions = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

/** List, status apply and metadata apply for one kind. */
export class ResourceClient<T extends KubeObject> {
  readonly type: ResourceType;
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig, type: ResourceType) {
    this.type = type;
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /** One page of a list across all namespaces (or within one). */
  async listPage(options: { namespace?: string | undefined; limit: number; continueToken?: string | undefined; fieldSelector?: string; labelSelector?: string | undefined }): Promise<ObjectList<T>> {
    const { group, version, plural } = this.type;
    const common = {
      group,
      version,
      plural,
      limit: options.limit,
      _continue: options.continueToken,
      ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    };
    const page: unknown = options.namespace
      ? await this.api.listNamespacedCustomObject({ ...common, namespace: options.namespace })
      : await this.api.listClusterCustomObject(common);
    return page as ObjectList<T>;
  }

  /** Server-side apply of the whole status, owned by field manager `omnivisor`. */
  async applyStatus(meta: ObjectMeta, status: unknown): Promise<T> {
    const body = { apiVersion: apiVersionOf(this.type), kind: this.type.kind, metadata: { name: meta.name, namespace: meta.namespace }, status };
    const { group, version, plural } = this.type;
    const common = { group, version, plural, name: meta.name, body, fieldManager, force: true };
    const out: unknown = meta.namespace
      ? await this.api.patchNamespacedCustomObjectStatus({ ...common, namespace: meta.namespace }, applyOptions)
      : await this.api.patchClusterCustomObjectStatus(common, applyOptions);
    return out as T;
  }

  /**
   * Replaces the whole status if the object is still at `meta.resourceVersion` (409 Conflict
   * otherwise): for a status other writers change too, where a write must not undo theirs.
   */
  async replaceStatus(meta: ObjectMeta, status: unknown): Promise<T> {
    const body = { apiVersion: apiVersionOf(this.type), kind: this.type.kind, metadata: { name: meta.name, namespace: meta.namespace, resourceVersion: meta.resourceVersion }, status };
    const { group, version, plural } = this.type;
    const common = { group, version, plural, name: meta.name, body, fieldManager };
    const out: unknown = meta.namespace
      ? await this.api.replaceNamespacedCustomObjectStatus({ ...common, namespace: meta.namespace })
      : await this.api.replaceClusterCustomObjectStatus(common);
    return out as T;
  }

  /**
   * Server-side apply of the metadata fields `omnivisor` owns (finalizers, annotations); never
   * touches spec. Empty annotations are left out of the body: owning none is the same.
   */
  async applyMetadata(meta: ObjectMeta, owned: { finalizers?: string[]; annotations?: Record<string, string> }, precondition: { resourceVersion?: string | undefined } = {}): Promise<T> {
    const { annotations, ...rest } = owned;
    // a resourceVersion in an apply is a precondition: 409 Conflict if the object changed since
    const expected = precondition.resourceVersion !== undefined ? { resourceVersion: precondition.resourceVersion } : {};
    const body = {
      apiVersion: apiVersionOf(this.type),
      kind: this.type.kind,
      metadata: { name: meta.name, namespace: meta.namespace, ...expected, ...rest, ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}) },
    };
    const { group, version, plural } = this.type;
    const common = { group, version, plural, name: meta.name, body, fieldManager, force: true };
    const out: unknown = meta.namespace
      ? await this.api.patchNamespacedCustomObject({ ...common, namespace: meta.namespace }, applyOptions)
      : await this.api.patchClusterCustomObject(common, applyOptions);
    return out as T;
  }
}
