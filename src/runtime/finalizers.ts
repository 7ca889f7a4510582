// Finalizers guard external cleanup (a VM on a hypervisor) against the object vanishing first.
// They are written by server-side apply of the metadata we own (finalizers, and annotations such
// as a VM's placement marker): spec is never touched, and what others own is kept. Every apply
// lists all we own, or what it leaves out is removed.
import { fieldManager, type KubeObject, type ResourceClient } from "./resource.ts";

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: { "f:metadata"?: { "f:finalizers"?: Record<string, unknown>; "f:annotations"?: Record<string, unknown> } };
}

function ourMetadataEntry(obj: KubeObject): ManagedFieldsEntry | undefined {
  const entries = (obj.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  return entries.find((e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource);
}

/**
 * The finalizers our field manager owns, from managedFields: an apply must list all of them, or
 * the ones left out are removed.
 */
export function ownedFinalizers(obj: KubeObject): string[] {
  const set = ourMetadataEntry(obj)?.fieldsV1?.["f:metadata"]?.["f:finalizers"] ?? {};
  return Object.keys(set)
    .filter((k) => k.startsWith("v:"))
    .map((k) => JSON.parse(k.slice(2)) as string);
}

/** The annotations our field manager owns, with their values on the object. */
export function ownedAnnotations(obj: KubeObject): Record<string, string> {
  const set = ourMetadataEntry(obj)?.fieldsV1?.["f:metadata"]?.["f:annotations"] ?? {};
  const out: Record<string, string> = {};
  for (const k of Object.keys(set)) {
    if (!k.startsWith("f:")) continue;
    const value = obj.metadata.annotations?.[k.slice(2)];
    if (value !== undefined) out[k.slice(2)] = value;
  }
  return out;
}

/**
 * The object as a cache needs to keep it: of managedFields only what ownedFinalizers() reads. The
 * rest (the fields of every other manager, our status) is often half of an object's size, and at
 * 10,000 VMs the caches were most of the operator's memory (ADR 0012).
 */
export function compactManagedFields<T extends KubeObject>(obj: T): T {
  const entries = obj.metadata.managedFields as ManagedFieldsEntry[] | undefined;
  if (entries === undefined) return obj;
  const { managedFields: _all, ...metadata } = obj.metadata;
  const ours = ourMetadataEntry(obj)?.fieldsV1?.["f:metadata"];
  const finalizers = ours?.["f:finalizers"];
  const annotations = ours?.["f:annotations"];
  if (!finalizers && !annotations) return { ...obj, metadata };
  const kept: ManagedFieldsEntry = {
    manager: fieldManager,
    operation: "Apply",
    fieldsV1: { "f:metadata": { ...(finalizers ? { "f:finalizers": finalizers } : {}), ...(annotations ? { "f:annotations": annotations } : {}) } },
  };
  return { ...obj, metadata: { ...metadata, managedFields: [kept] } };
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata.deletionTimestamp);
}

/** Annotations to set (a string) or to drop (undefined) along with a finalizer. */
export type AnnotationChanges = Record<string, string | undefined>;

export interface FinalizerOptions {
  /**
   * Write only if the object is still the version read (its resourceVersion as a precondition):
   * a decision recorded this way (a VM's placement) cannot overwrite another writer's made
   * meanwhile. The API server answers 409 Conflict instead; re-read and decide again.
   */
  exclusive?: boolean;
}

/**
 * Adds the finalizer unless present, and sets or drops our annotations, in one apply — nothing
 * when all is as asked already. Returns true if it wrote.
 */
export async function ensureFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string, annotations: AnnotationChanges = {}, options: FinalizerOptions = {}): Promise<boolean> {
  const annotationsAsAsked = Object.entries(annotations).every(([k, v]) => obj.metadata.annotations?.[k] === v);
  if (hasFinalizer(obj, finalizer) && annotationsAsAsked) return false;
  const finalizers = [...ownedFinalizers(obj).filter((f) => f !== finalizer), finalizer];
  await client.applyMetadata(obj.metadata, { finalizers, annotations: withChanges(ownedAnnotations(obj), annotations) }, options.exclusive ? { resourceVersion: obj.metadata.resourceVersion } : {});
  return true;
}

/** Drops our ownership of the finalizer (it goes unless another manager also holds it). */
export async function removeFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string): Promise<boolean> {
  if (!hasFinalizer(obj, finalizer)) return false;
  try {
    await client.applyMetadata(obj.metadata, { finalizers: ownedFinalizers(obj).filter((f) => f !== finalizer), annotations: ownedAnnotations(obj) });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true; // already gone: nothing to release
    throw err;
  }
  return true;
}

function withChanges(owned: Record<string, string>, changes: AnnotationChanges): Record<string, string> {
  const out = { ...owned };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}
