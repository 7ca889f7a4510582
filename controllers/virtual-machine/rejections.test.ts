import { describe, expect, it } from "vitest";
import { Rejections } from "./rejections.ts";

describe("Rejections", () => {
  it("keeps a host's refusal of a VM for the time given, for that VM only", () => {
    const r = new Rejections(1_000);
    r.add("ns/vm", "small", "no memory", 0);
    expect(r.of("ns/vm", 999)).toEqual(new Map([["small", "no memory"]]));
    expect(r.of("ns/other", 999)).toEqual(new Map());
    expect(r.of("ns/vm", 1_000)).toEqual(new Map());
  });

  it("forgets a VM's refusals (it was deleted)", () => {
    const r = new Rejections(1_000);
    r.add("ns/vm", "a", "x", 0);
    r.add("ns/vm", "b", "y", 0);
    r.forget("ns/vm");
    expect(r.of("ns/vm", 1)).toEqual(new Map());
  });
});
