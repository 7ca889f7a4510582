import { describe, expect, it } from "vitest";
import { sameJson, statusOnlyChange } from "./status.ts";

describe("status helpers", () => {
  it("compares JSON regardless of key order and undefined fields", () => {
    expect(sameJson({ a: 1, b: { c: 2, d: undefined } }, { b: { c: 2 }, a: 1 })).toBe(true);
    expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
  });

  it("tells a status-only update from a spec or metadata change", () => {
    const base = { metadata: { name: "w", resourceVersion: "1", generation: 1 }, spec: { size: 1 }, status: { doubled: 2 } };
    expect(statusOnlyChange(base, { ...base, metadata: { ...base.metadata, resourceVersion: "2" }, status: { doubled: 4 } })).toBe(true);
    expect(statusOnlyChange(base, { ...base, spec: { size: 2 } })).toBe(false);
    expect(statusOnlyChange(base, { ...base, metadata: { ...base.metadata, finalizers: ["x"] } })).toBe(false);
  });
});
