// Conformance: a create cut off half way — the connection lost while the host works on it, as a
// crashed manager or a network failure leaves it — and retried on a new session is one VM, and
// once it is deleted the host holds nothing more of it (no disk, volume or VDI left behind).
// Whether the first attempt got far, or nowhere, depends on timing; the outcome must not.
import { expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

/** How long the first attempt runs before its connection is cut: long enough to have started. */
const cutAfterMs = [0, 20, 150];

export function interruptedTests(ctx: ConformanceContext): void {
  it.each(cutAfterMs)("a create cut off after %i ms and retried on a new session is one VM, and its delete leaves nothing on the host", async (afterMs) => {
    const identity = ctx.identity(`cut${afterMs}`);
    const { session, cut, dispose } = await ctx.target.hooks.cuttableSession(AbortSignal.timeout(30_000));
    let outcome: unknown;
    try {
      const first = session.createVm(identity, ctx.spec("Running")).then(
        () => "created",
        (err: unknown) => err,
      );
      await new Promise((r) => setTimeout(r, afterMs));
      await cut();
      outcome = await first;
    } finally {
      await session.close().catch(() => undefined);
      await dispose();
    }
    if (outcome !== "created") expect(errorKind(outcome), `the cut-off create failed as retryable: ${String(outcome)}`).toBe("retryable");

    const retried = await ctx.session().createVm(identity, ctx.spec("Running"));
    expect(retried.identity?.uid).toBe(identity.uid);
    const mine = (await ctx.session().listVms()).filter((v) => v.identity?.uid === identity.uid);
    expect(mine.map((v) => v.externalId), "exactly one VM carries the uid").toEqual([retried.externalId]);

    await ctx.session().deleteVm(identity);
    expect(await ctx.session().observeVm(identity)).toBeUndefined();
    const { leftovers } = ctx.target.hooks;
    if (typeof leftovers === "function") {
      await expect.poll(() => leftovers(identity), { timeout: ctx.eventTimeoutMs, interval: 200 }).toEqual([]);
    } else {
      // nothing separate to look at on this host: say so in the test's output rather than pass silently
      console.info(`${ctx.target.name}: no leftovers to check after delete: ${leftovers.notApplicable}`);
      expect(leftovers.notApplicable.length).toBeGreaterThan(0);
    }
  });
}
