import { describe, expect, it } from "vitest";
import { waitsFor } from "./limits.ts";

const limits = { perHost: 2, cluster: 5 };
const running = (...sources: string[]) => sources.map((source, i) => ({ key: `ns/m${i}`, source }));

describe("migration limits", () => {
  it("lets a move start while both limits have room", () => {
    expect(waitsFor(limits, running("a", "b"), "ns/new", "a")).toBeUndefined();
  });
  it("holds a third move from one host, naming the host and the limit", () => {
    expect(waitsFor(limits, running("a", "a"), "ns/new", "a")).toBe("2 migrations are leaving host a (at most 2 at once per host)");
    expect(waitsFor(limits, running("a", "a"), "ns/new", "b")).toBeUndefined();
  });
  it("holds a sixth move in the cluster", () => {
    expect(waitsFor(limits, running("a", "b", "c", "d", "e"), "ns/new", "f")).toBe("5 migrations are running in the cluster (at most 5 at once)");
  });
  it("does not count the move itself (a pass after it was admitted)", () => {
    expect(waitsFor(limits, [{ key: "ns/new", source: "a" }, { key: "ns/m1", source: "a" }], "ns/new", "a")).toBeUndefined();
  });
});
