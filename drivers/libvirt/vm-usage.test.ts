import { describe, expect, it } from "vitest";
import { memoryKiB } from "./vm-usage.ts";

describe("memoryKiB (balloon fields of CONNECT_GET_ALL_DOMAIN_STATS)", () => {
  it("prefers balloon.rss (what QEMU holds), then current − unused (the guest's balloon driver), then current", () => {
    expect(memoryKiB(new Map([["balloon.rss", 40_000n], ["balloon.current", 65_536n], ["balloon.unused", 10_000n]]))).toBe(40_000n);
    expect(memoryKiB(new Map([["balloon.current", 65_536n], ["balloon.unused", 15_536n]]))).toBe(50_000n);
    expect(memoryKiB(new Map([["balloon.current", 65_536n]]))).toBe(65_536n);
  });

  it("is undefined when the host reports no balloon stats", () => {
    expect(memoryKiB(new Map())).toBeUndefined();
  });
});
