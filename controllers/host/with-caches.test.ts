import { describe, expect, it } from "vitest";
import { withoutManagedFields } from "./with-caches.ts";

describe("read-only caches", () => {
  it("keep objects without managedFields (never read there), everything else as it was", () => {
    const obj = { metadata: { name: "v", namespace: "t", resourceVersion: "7", managedFields: [{ manager: "omnivisor" }] }, spec: { cpus: 1 }, status: { host: "h" } };
    expect(withoutManagedFields(obj)).toEqual({ metadata: { name: "v", namespace: "t", resourceVersion: "7" }, spec: { cpus: 1 }, status: { host: "h" } });
    const plain = { metadata: { name: "w" } };
    expect(withoutManagedFields(plain)).toBe(plain);
  });
});
