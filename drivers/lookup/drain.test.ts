import { describe, expect, it } from "vitest";
import { Drain } from "./drain.ts";

describe("Drain", () => {
  it("a call during a drain waits for the next one; calls meanwhile share it; never two at once", async () => {
    let started = 0;
    let active = 0;
    let maxActive = 0;
    const releases: (() => void)[] = [];
    const drain = new Drain(async () => {
      started++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => releases.push(resolve));
      active--;
    });
    const first = drain.run();
    const second = drain.run();
    const third = drain.run();
    expect(second).toBe(third);
    expect(started).toBe(1);
    releases.shift()!();
    await first;
    await expect.poll(() => started).toBe(2);
    releases.shift()!();
    await Promise.all([second, third]);
    expect(started).toBe(2);
    expect(maxActive).toBe(1);
  });

  it("a failed drain fails its callers; the next call starts a fresh one", async () => {
    let calls = 0;
    const drain = new Drain(() => (++calls === 1 ? Promise.reject(new Error("feed broke")) : Promise.resolve()));
    await expect(drain.run()).rejects.toThrow("feed broke");
    await drain.run();
    expect(calls).toBe(2);
  });
});
