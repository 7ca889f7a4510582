// Finalizers guard external cleanup (a VM on a hypervisor) against the object vanishing first.
// They are written by server-side apply of metadata.finalizers only: spec is never touched and
// finalizers owned by others are kept.
import type { KubeObject, ResourceClient } from "./resource.ts";

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata.deletionTimestamp);
}

/** Adds the finalizer unless present. Returns true if it wrote. */
export async function ensureFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string): Promise<boolean> {
  if (hasFinalizer(obj, finalizer)) return false;
  await client.applyMetadata(obj.metadata, { finalizers: [finalizer] });
  return true;
}

/** Drops our ownership of the finalizer (it goes unless another manager also holds it). */
export async function removeFinalizer<T extends KubeObject>(client: ResourceClient<T>, obj: T, finalizer: string): Promise<boolean> {
  if (!hasFinalizer(obj, finalizer)) return false;
  try {
    await client.applyMetadata(obj.metadata, { finalizers: [] });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true; // already gone: nothing to release
    throw err;
  }
  return true;
}
