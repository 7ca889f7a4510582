import { describe, expect, it } from "vitest";
import { formatMiB, quantityBytes, toGiB, toMiB } from "./quantity.ts";

describe("quantities", () => {
  it.each([
    ["512Mi", 512],
    ["4Gi", 4096],
    ["1G", 954],
    [1073741824, 1024],
    ["1.5Gi", 1536],
    ["64M", 62],
  ] as const)("%s is %i MiB (rounded up)", (q, mib) => {
    expect(toMiB(q)).toBe(mib);
  });

  it("reads exponents and rejects garbage", () => {
    expect(quantityBytes("1e3")).toBe(1000);
    expect(Number.isNaN(quantityBytes("ten gigs"))).toBe(true);
    expect(toMiB("ten gigs")).toBe(0);
    expect(toGiB("20Gi")).toBe(20);
  });

  it("formats whole GiB as Gi and the rest as Mi, so reading back gives the same number", () => {
    expect(formatMiB(4096)).toBe("4Gi");
    expect(formatMiB(1536)).toBe("1536Mi");
    expect(toMiB(formatMiB(1536))).toBe(1536);
  });
});
