// Conformance: the host as the driver sees it, and a lost connection (what a driver says about
// migration, which it may not offer, is in ./migration.ts).
import { expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

export function hostTests(ctx: ConformanceContext): void {
  it("observeHost: a reachable host with sane capacity, usage and VM counts", async () => {
    const host = await ctx.session().observeHost();
    expect(host.reachable).toBe(true);
    expect(host.hypervisor).not.toBe("");
    expect(host.version).not.toBe("");
    expect(host.capacity.cpus).toBeGreaterThanOrEqual(1);
    expect(host.capacity.memoryMiB).toBeGreaterThan(64);
    if (host.capacity.storageGiB !== undefined) expect(host.capacity.storageGiB).toBeGreaterThan(0);
    if (host.usage !== undefined) {
      expect(host.usage.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(host.usage.cpuPercent).toBeLessThanOrEqual(100);
      expect(host.usage.memoryUsedMiB).toBeGreaterThan(0);
      expect(host.usage.memoryUsedMiB).toBeLessThanOrEqual(host.capacity.memoryMiB);
    }
    const { total, running, paused, stopped } = host.vms;
    for (const n of [total, running, paused, stopped]) expect(n).toBeGreaterThanOrEqual(0);
    expect(running + paused).toBeLessThanOrEqual(total);
  });

  it("a dropped connection is reported as retryable, not as a crash", async () => {
    const { session, drop, dispose } = await ctx.target.hooks.droppableSession(AbortSignal.timeout(30_000));
    const watching = new AbortController();
    try {
      await session.listVms(); // works before the drop
      const stream = await session.watch(watching.signal);
      // Consume everything (other users' containers make events too) until the stream fails.
      const failure = (async (): Promise<unknown> => {
        try {
          for await (const _ of stream) {
            /* events before the drop do not matter here */
          }
          return new Error("the watch ended quietly instead of failing");
        } catch (err) {
          return err;
        }
      })();
      await drop();
      const ended = await failure;
      expect(errorKind(ended), String(ended)).toBe("retryable");
      expect((ended as { kind?: string }).kind).toBe("retryable");
      const call: unknown = await session.listVms().catch((e: unknown) => e);
      expect((call as { kind?: string }).kind, String(call)).toBe("retryable");
    } finally {
      watching.abort();
      await session.close();
      await dispose();
    }
  });
}
