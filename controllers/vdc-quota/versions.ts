// resourceVersions are opaque, but etcd's are integers: one is newer when it is a larger integer.
// Anything else is never "newer" (the caller then trusts the cache).
export function newerVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
