import { describe, expect, it } from "vitest";
import { CpuRates } from "./cpu-rate.ts";

describe("CpuRates", () => {
  it("is undefined on a VM's first sample, then the counter's growth over the time between", () => {
    const rates = new CpuRates();
    expect(rates.rate("a", 1_000_000_000n, 10_000_000_000n)).toBeUndefined();
    // 1.5 s of CPU over 2 s: 0.75 cores
    expect(rates.rate("a", 2_500_000_000n, 12_000_000_000n)).toBeCloseTo(0.75);
    // two cores' worth over 1 s
    expect(rates.rate("a", 4_500_000_000n, 13_000_000_000n)).toBeCloseTo(2);
  });

  it("starts anew when the counter goes back (the VM restarted) or the clock did not move", () => {
    const rates = new CpuRates();
    rates.rate("a", 5_000_000_000n, 1_000n);
    expect(rates.rate("a", 100n, 2_000n)).toBeUndefined();
    expect(rates.rate("a", 200n, 2_000n)).toBeUndefined();
    expect(rates.rate("a", 1_200n, 3_000n)).toBeCloseTo(1);
  });

  it("keepOnly forgets VMs not seen in the round: they start anew when they come back", () => {
    const rates = new CpuRates();
    rates.rate("a", 0n, 0n);
    rates.rate("b", 0n, 0n);
    rates.keepOnly(new Set(["a"]));
    expect(rates.rate("a", 10n, 10n)).toBeCloseTo(1);
    expect(rates.rate("b", 10n, 10n)).toBeUndefined();
  });
});
