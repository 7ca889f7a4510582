import { describe, expect, it } from "vitest";
import { compactManagedFields, ownedFinalizers } from "./finalizers.ts";

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
