import { describe, expect, it } from "vitest";
import { z } from "zod";
import { quantity } from "./fields.ts";
import { NotStructuralError, structuralSchema } from "./structural.ts";

describe("structural schema", () => {
  it("given a quantity, then it becomes int-or-string with the quantity pattern", () => {
    const s = structuralSchema(z.object({ memory: quantity("Memory.") }).describe("x"), "spec");
    const memory = (s.properties as Record<string, Record<string, unknown>>).memory!;
    expect(memory["x-kubernetes-int-or-string"]).toBe(true);
    expect(memory.anyOf).toEqual([{ type: "integer" }, { type: "string" }]);
    expect(new RegExp(memory.pattern as string).test("512Mi")).toBe(true);
    expect(new RegExp(memory.pattern as string).test("lots")).toBe(false);
  });

  it("given a field without a description, then generation fails naming the field", () => {
    expect(() => structuralSchema(z.object({ cpus: z.int() }).describe("x"), "spec")).toThrow(NotStructuralError);
    expect(() => structuralSchema(z.object({ cpus: z.int() }).describe("x"), "spec")).toThrow(/spec\.cpus/);
  });

  it("given literals, exclusive bounds and integers, then they become enum, boolean bounds and no safe-integer noise", () => {
    const s = structuralSchema(
      z.object({ k: z.literal("a").describe("k"), n: z.number().gt(0).describe("n"), i: z.int().describe("i") }).describe("x"),
      "spec",
    );
    expect(s.properties).toEqual({
      k: { type: "string", enum: ["a"], description: "k" },
      n: { type: "number", minimum: 0, exclusiveMinimum: true, description: "n" },
      i: { type: "integer", description: "i" },
    });
    expect(s.additionalProperties).toBeUndefined();
  });

  it("given a union that is not int-or-string, then generation fails", () => {
    expect(() => structuralSchema(z.object({ u: z.union([z.string(), z.boolean()]).describe("u") }).describe("x"), "spec")).toThrow(
      /only integer-or-string/,
    );
  });
});
