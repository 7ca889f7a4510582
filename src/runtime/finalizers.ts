// Finalizers guard external cleanup (a VM on a hypervisor) against the object vanishing first.
// They are written by server-side apply of metadata.finalizers only: spec is never touched and
// finalizers owned by others are kept.
import { fieldManager, type KubeObject, type ResourceClient } from "./resource.ts";

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: { "f:metadata"?: { "f:finalizers"?: Record<string, unknown> } };
}

/**
 * The finalizers our field manager owns, from managedFields: an apply must list all of them, or
 * the ones left out are removed.
 */
export function ownedFinalizers(obj: KubeObject): string[] {
  const entries = (obj.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  const ours = entries.find((e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource);
  const set = ours?.fieldsV1?.["f:metadata"]?.["f:finalizers"] ?? {};
  return Object.keys(set)
    .filter((k) => k.startsWith("v:"))
    .map((k) => JSON.parse(k.slice(2)) as string);
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
  const ours = entries.find((e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource);
  const finalizers = ours?.fieldsV1?.["f:metadata"]?.["f:finalizers"];
  if (!ours || !finalizers) return { ...obj, metadata };
  const kept: ManagedFieldsEntry = { manager: ours.manager, operation: ours.operation, fieldsV1: { "f:metadata": { "f:finalizers": finalizers } } };
  return { ...obj, metadata: { ...metadata, managedFields: [kept] } };
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata.deletionTimestamp);
}

/** Adds the finalizer unless present. Returns true if it wrote. */
export async function ensureFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string): Promise<boolean> {
  if (hasFinalizer(obj, finalizer)) return false;
  await client.applyMetadata(obj.metadata, { finalizers: [...ownedFinalizers(obj).filter((f) => f !== finalizer), finalizer] });
  return true;
}

/** Drops our ownership of the finalizer (it goes unless another manager also holds it). */
export async function removeFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string): Promise<boolean> {
  if (!hasFinalizer(obj, finalizer)) return false;
  try {
    await client.applyMetadata(obj.metadata, { finalizers: ownedFinalizers(obj).filter((f) => f !== finalizer) });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true; // already gone: nothing to release
    throw err;
  }
  return true;
}
