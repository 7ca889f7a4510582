import { describe, expect, it } from "vitest";
import { CrashLoops, crashWindowMs, maxDelayMs } from "./crash-loop.ts";

describe("restarting a VM that keeps stopping", () => {
  it("starts the first two times at once, then waits 10 s, 20 s, 40 s … from the last start", () => {
    const loops = new CrashLoops();
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { waitMs } = loops.hold("vm", now);
      waits.push(waitMs);
      now += waitMs;
      loops.started("vm", now);
      now += 1_000; // it runs a second, then stops again
    }
    expect(waits).toEqual([0, 0, 9_000, 19_000, 39_000, 79_000]);
  });

  it("never waits more than 5 minutes", () => {
    const loops = new CrashLoops();
    for (let i = 0; i < 20; i++) loops.started("vm", i);
    expect(loops.hold("vm", 20).waitMs).toBeLessThanOrEqual(maxDelayMs);
  });

  it("forgets starts older than 10 minutes: a VM that ran a while starts at once again", () => {
    const loops = new CrashLoops();
    for (let i = 0; i < 5; i++) loops.started("vm", i * 1_000);
    expect(loops.hold("vm", 5_000).waitMs).toBeGreaterThan(0);
    expect(loops.hold("vm", 4_000 + crashWindowMs + 1)).toEqual({ starts: 0, waitMs: 0 });
  });

  it("starts over after a stop made on purpose, and keeps VMs apart", () => {
    const loops = new CrashLoops();
    for (let i = 0; i < 5; i++) loops.started("a", i);
    loops.started("b", 0);
    expect(loops.hold("b", 10).waitMs).toBe(0);
    loops.forget("a");
    expect(loops.hold("a", 10)).toEqual({ starts: 0, waitMs: 0 });
  });
});
