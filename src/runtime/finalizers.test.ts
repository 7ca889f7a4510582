import { describe, expect, it } from "vitest";
import { ownedFinalizers } from "./finalizers.ts";

describe("ownedFinalizers", () => {
  it("lists only the finalizers field manager omnivisor applied", () => {
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
    };
    expect(ownedFinalizers(obj).sort()).toEqual(["omnivisor.io/ha", "omnivisor.io/vm"]);
  });
});
