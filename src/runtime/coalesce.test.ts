import { describe, expect, it } from "vitest";
import { Coalescer } from "./coalesce.ts";

function recordingQueue() {
  const calls: string[] = [];
  return { calls, queue: { add: (key: string) => void calls.push(`add ${key}`), addAfter: (key: string, ms: number) => void calls.push(`after ${key} ${ms}`) } };
}

describe("Coalescer", () => {
  it("queues a key's first change at once, and the changes within the interval as one pass at its end", () => {
    const { calls, queue } = recordingQueue();
    const c = new Coalescer(queue, 2_000);
    c.add("h1", 10_000);
    c.add("h1", 10_500);
    c.add("h1", 11_000);
    c.add("h1", 11_900);
    expect(calls).toEqual(["add h1", "after h1 1500", "after h1 1000", "after h1 100"]);
  });

  it("asks for the due pass again at each change: an earlier requeue of the key may have replaced its timer", () => {
    const { calls, queue } = recordingQueue();
    const c = new Coalescer(queue, 2_000);
    c.add("h1", 0);
    c.add("h1", 100); // due at 2,000
    // (the controller requeued h1 after 50 ms: the queue kept that earlier timer, which has run)
    c.add("h1", 300);
    expect(calls).toEqual(["add h1", "after h1 1900", "after h1 1700"]);
  });

  it("keeps keys apart, and queues at once again once an interval has passed without a change", () => {
    const { calls, queue } = recordingQueue();
    const c = new Coalescer(queue, 2_000);
    c.add("h1", 0);
    c.add("h2", 100);
    c.add("h1", 500); // due at 2,000
    c.add("h1", 2_100); // after the delayed pass started: the next one waits for 4,000
    c.add("h1", 9_000);
    expect(calls).toEqual(["add h1", "add h2", "after h1 1500", "after h1 1900", "add h1"]);
  });

  it("forgets a key: its next change is queued at once", () => {
    const { calls, queue } = recordingQueue();
    const c = new Coalescer(queue, 2_000);
    c.add("h1", 0);
    c.forget("h1");
    c.add("h1", 10);
    expect(calls).toEqual(["add h1", "add h1"]);
  });
});
