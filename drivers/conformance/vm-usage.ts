// Conformance: each managed VM's own live usage (observeVmUsage), which DRS weighs hosts by — or,
// from a driver or host that has none, a refusal saying why (never a silent pass).
import { expect, it } from "vitest";
import { errorKind, type VmUsageSample } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

export function vmUsageTests(ctx: ConformanceContext): void {
  it("observeVmUsage: a running managed VM's own CPUs and memory; stopped and unmanaged VMs are left out — or the driver says why it has none", async () => {
    const session = ctx.session();
    const { hooks, prefix, noVmUsage } = ctx.target;
    const running = ctx.identity("usage-running");
    const stopped = ctx.identity("usage-stopped");
    await session.createVm(running, ctx.spec("Running"));
    await session.createVm(stopped, ctx.spec("Stopped"));
    const unmanagedId = await hooks.createUnmanagedVm(`${prefix}-usage-unmanaged`);
    try {
      await ctx.eventuallyPower(running, "Running");
      if (noVmUsage !== undefined) {
        console.info(`${ctx.target.name}: no per-VM usage: ${noVmUsage}`);
        expect(noVmUsage.length).toBeGreaterThan(0);
        if (!session.observeVmUsage) return; // the driver offers none at all
        const err: unknown = await session.observeVmUsage().catch((e: unknown) => e);
        expect(errorKind(err), `observeVmUsage on ${ctx.target.name}: ${String(err)}`).toBe("unsupported");
        expect((err as Error).message).toMatch(/stats|usage/i);
        return;
      }
      expect(typeof session.observeVmUsage, `${ctx.target.name} offers observeVmUsage (or its target says why not: noVmUsage)`).toBe("function");
      const observe = (): Promise<VmUsageSample[]> => session.observeVmUsage!();
      const check = (samples: VmUsageSample[]): VmUsageSample => {
        const uids = samples.map((s) => s.uid);
        expect(new Set(uids).size, "one sample per VM").toBe(uids.length);
        for (const s of samples) {
          expect(s.uid, "every sample is a managed VM's uid").not.toBe("");
          expect(s.memoryMiB).toBeGreaterThanOrEqual(0);
          if (s.cpus !== undefined) expect(s.cpus).toBeGreaterThanOrEqual(0);
        }
        expect(uids, "a stopped VM uses nothing").not.toContain(stopped.uid);
        expect(uids, "an unmanaged VM has no uid to report").not.toContain(unmanagedId);
        const mine = samples.find((s) => s.uid === running.uid);
        expect(mine, `the running VM ${running.name} is in the usage`).toBeDefined();
        expect(mine!.memoryMiB, "a running VM uses some memory").toBeGreaterThan(0);
        return mine!;
      };
      // the hypervisor may take a moment to publish a fresh VM's first figures (vim25 quickStats)
      await expect.poll(async () => (await observe()).some((s) => s.uid === running.uid && s.memoryMiB > 0), { timeout: ctx.eventTimeoutMs, interval: 500 }).toBe(true);
      check(await observe());
      await new Promise((r) => setTimeout(r, 1_000)); // CPU counters move between two calls
      const second = check(await observe());
      expect(second.cpus, "the second call has an earlier sample to average from").toBeDefined();
      expect(second.cpus!).toBeGreaterThanOrEqual(0);
      expect(second.cpus!, "no more cores busy than the host has").toBeLessThanOrEqual((await session.observeHost()).capacity.cpus);
    } finally {
      await hooks.deleteOutside(unmanagedId);
      await session.deleteVm(running);
      await session.deleteVm(stopped);
    }
  });
}
