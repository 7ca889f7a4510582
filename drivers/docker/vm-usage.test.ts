import { describe, expect, it } from "vitest";
import { memoryBytes } from "./vm-usage.ts";

describe("memoryBytes", () => {
  it("is usage less the inactive page cache, cgroup v1 or v2, as docker stats shows it", () => {
    expect(memoryBytes({ usage: 10_000, stats: { total_inactive_file: 4_000, cache: 6_000 } })).toBe(6_000);
    expect(memoryBytes({ usage: 10_000, stats: { inactive_file: 1_000 } })).toBe(9_000);
    expect(memoryBytes({ usage: 10_000, stats: { cache: 2_000 } })).toBe(8_000);
    expect(memoryBytes({ usage: 634_880, stats: { total_inactive_file: 0 } })).toBe(634_880);
  });

  it("is undefined when dockerd reports no usage (a container that just stopped)", () => {
    expect(memoryBytes(undefined)).toBeUndefined();
    expect(memoryBytes({ stats: {} })).toBeUndefined();
  });
});
