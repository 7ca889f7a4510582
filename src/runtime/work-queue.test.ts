import { describe, expect, it } from "vitest";
import { WorkQueue } from "./work-queue.ts";

describe("WorkQueue", () => {
  it("hands a key out once however often it was added while waiting", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("never hands the same key to two workers: a re-add while processing waits for done()", async () => {
    const q = new WorkQueue();
    q.add("a");
    const first = await q.get();
    q.add("a");
    expect(q.length).toBe(0);
    q.done(first!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe("a");
  });

  it("backs a failing key off exponentially up to the cap, and forget() resets it", () => {
    const q = new WorkQueue({ baseMs: 10, capMs: 50 });
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited("a"));
    expect(delays).toEqual([10, 20, 40, 50, 50]);
    q.forget("a");
    expect(q.addRateLimited("a")).toBe(10);
    void q.shutdown();
  });

  it("keeps the earliest of several delayed adds for one key", async () => {
    const q = new WorkQueue();
    q.addAfter("a", 60_000);
    q.addAfter("a", 5);
    expect(await q.get()).toBe("a");
    q.done("a");
    await q.shutdown();
  });

  it("on shutdown hands out nothing more and waits for keys in flight", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    const key = await q.get();
    let drained = false;
    const shutdown = q.shutdown().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    expect(await q.get()).toBeUndefined();
    q.done(key!);
    await shutdown;
    expect(drained).toBe(true);
  });
});
