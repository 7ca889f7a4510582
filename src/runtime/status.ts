// Status is written once per reconcile pass, and only when it differs from what the cache holds;
// the watch event each write causes is recognised as our own status-only update (same status as
// we applied, nothing else changed) and does not trigger another pass.
import type { KubeObject } from "./resource.ts";

/** JSON equality with key order ignored (what the API server gives back is reordered). */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : 1)))
      : value,
  );
}

/** True if only status (and the bookkeeping that changes with it) differs between two versions. */
export function statusOnlyChange(old: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject): unknown => {
    const { resourceVersion: _rv, managedFields: _mf, ...meta } = o.metadata;
    return { ...o, metadata: meta, status: undefined };
  };
  return sameJson(strip(old), strip(next));
}
