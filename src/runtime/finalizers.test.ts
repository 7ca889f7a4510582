import { describe, expect, it } from "vitest";
import { compactManagedFields, ensureFinalizer, ownedAnnotations, ownedFinalizers } from "./finalizers.ts";
import type { KubeObject, ObjectMeta, ResourceClient } from "./resource.ts";

const obj = {
      metadata: {
        name: "vm",
        finalizers: ["omnivisor.io/vm", "omnivisor.io/ha", "someone.else/x"],
        managedFields: [
          { manager: "omnivisor", operation: "Apply", fieldsV1: { "f:metadata": { "f:finalizers": { 'v:"omnivisor.io/vm"': {}, 'v:"omnivisor.io/ha"': {} } } } },
          { manager: "omnivisor", operation: "Apply", subresource: "status", fieldsV1: { "f:status": {} } },
          { manager: "kubectl", operation: "Update", fieldsV1: { "f:metadata": { "f:finalizers": { 'v:"someone.else/x"': {} } } } },
        ],
      },
      spec: { cpus: 1 },
    };

describe("ownedFinalizers", () => {
  it("lists only the finalizers field manager omnivisor applied", () => {
    expect(ownedFinalizers(obj).sort()).toEqual(["omnivisor.io/ha", "omnivisor.io/vm"]);
  });
});

describe("compactManagedFields (what a cache keeps)", () => {
  it("keeps only our applied finalizers of managedFields, and everything else of the object", () => {
    const compact = compactManagedFields(obj);
    expect(ownedFinalizers(compact).sort()).toEqual(["omnivisor.io/ha", "omnivisor.io/vm"]);
    expect(compact.metadata.managedFields).toEqual([{ manager: "omnivisor", operation: "Apply", fieldsV1: { "f:metadata": { "f:finalizers": { 'v:"omnivisor.io/vm"': {}, 'v:"omnivisor.io/ha"': {} } } } }]);
    expect({ ...compact, metadata: { ...compact.metadata, managedFields: undefined } }).toEqual({ ...obj, metadata: { ...obj.metadata, managedFields: undefined } });
  });

  it("drops managedFields when we own no finalizer, and leaves an object without them as it is", () => {
    const theirs = { metadata: { name: "w", managedFields: [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": {} } }] } };
    expect(compactManagedFields(theirs)).toEqual({ metadata: { name: "w" } });
    const plain = { metadata: { name: "p" } };
    expect(compactManagedFields(plain)).toBe(plain);
  });
});

const placed = {
  metadata: {
    name: "vm",
    finalizers: ["omnivisor.io/vm"],
    annotations: { "omnivisor.io/placed-on": "host-a", "argocd.argoproj.io/tracking-id": "app:x" },
    managedFields: [
      { manager: "omnivisor", operation: "Apply", fieldsV1: { "f:metadata": { "f:finalizers": { 'v:"omnivisor.io/vm"': {} }, "f:annotations": { "f:omnivisor.io/placed-on": {} } } } },
      { manager: "argocd-controller", operation: "Apply", fieldsV1: { "f:metadata": { "f:annotations": { "f:argocd.argoproj.io/tracking-id": {} } } } },
    ],
  },
};

/** A client that records what ensureFinalizer applies. */
function recording(): { client: ResourceClient<KubeObject>; applied: unknown[] } {
  const applied: unknown[] = [];
  const client = { applyMetadata: (_meta: ObjectMeta, owned: unknown) => (applied.push(owned), Promise.resolve({ metadata: { name: "vm" } })) };
  return { client: client as unknown as ResourceClient<KubeObject>, applied };
}

describe("owned annotations (the placement marker)", () => {
  it("lists only the annotations field manager omnivisor applied, with their values, also from a cache's compacted copy", () => {
    expect(ownedAnnotations(placed)).toEqual({ "omnivisor.io/placed-on": "host-a" });
    expect(ownedAnnotations(compactManagedFields(placed))).toEqual({ "omnivisor.io/placed-on": "host-a" });
    expect(ownedFinalizers(compactManagedFields(placed))).toEqual(["omnivisor.io/vm"]);
  });

  it("writes nothing when the finalizer and the annotations are as asked", async () => {
    const { client, applied } = recording();
    expect(await ensureFinalizer(client, placed, "omnivisor.io/vm", { "omnivisor.io/placed-on": "host-a" })).toBe(false);
    expect(await ensureFinalizer(client, placed, "omnivisor.io/vm")).toBe(false);
    expect(applied).toEqual([]);
  });

  it("adds the finalizer and the marker in one apply, keeping what else we own", async () => {
    const { client, applied } = recording();
    const fresh = { metadata: { name: "vm", managedFields: [{ manager: "omnivisor", operation: "Apply", fieldsV1: { "f:metadata": { "f:finalizers": { 'v:"omnivisor.io/ha"': {} } } } }], finalizers: ["omnivisor.io/ha"] } };
    expect(await ensureFinalizer(client, fresh, "omnivisor.io/vm", { "omnivisor.io/placed-on": "host-b" })).toBe(true);
    expect(applied).toEqual([{ finalizers: ["omnivisor.io/ha", "omnivisor.io/vm"], annotations: { "omnivisor.io/placed-on": "host-b" } }]);
  });

  it("drops the marker (undefined) and keeps the finalizer; annotations of others are not ours to list", async () => {
    const { client, applied } = recording();
    expect(await ensureFinalizer(client, placed, "omnivisor.io/vm", { "omnivisor.io/placed-on": undefined })).toBe(true);
    expect(applied).toEqual([{ finalizers: ["omnivisor.io/vm"], annotations: {} }]);
  });
});
