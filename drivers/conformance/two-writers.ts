// Conformance: two managers that both believe they lead (a split brain between replicas) create
// the same VM at the same moment, each through its own session. The host must end with one VM
// carrying the uid, both callers get that VM, and deleting it leaves nothing behind. A driver
// cannot lean on its own in-process bookkeeping here: the two sessions share nothing but the host.
import { expect, it } from "vitest";
import type { ConformanceContext } from "./suite.ts";

/** Whether two writers collide is a race: a few rounds, each started at the same instant. */
const rounds = 3;

export function twoWriterTests(ctx: ConformanceContext): void {
  it(`two sessions (two managers) creating the same VM at the same moment make one VM, ${rounds} rounds`, async () => {
    const { target } = ctx;
    const other = await target.driver().connect(target.host, target.credentials, AbortSignal.timeout(30_000));
    try {
      for (let round = 0; round < rounds; round++) {
        const identity = ctx.identity(`two${round}`);
        const made = await Promise.allSettled([ctx.session().createVm(identity, ctx.spec("Running")), other.createVm(identity, ctx.spec("Running"))]);
        // One writer may be told to retry while the other's create is under way; a retry then
        // finds the VM — as the controller's next pass would.
        const settled = await Promise.all(made.map((m, i) => (m.status === "fulfilled" ? Promise.resolve(m.value) : (i === 0 ? ctx.session() : other).createVm(identity, ctx.spec("Running")))));
        expect(new Set(settled.map((v) => v.externalId)), `round ${round}: both writers got the same VM`).toEqual(new Set([settled[0]!.externalId]));
        const withUid = (await ctx.session().listVms()).filter((v) => v.identity?.uid === identity.uid);
        expect(withUid.map((v) => v.externalId), `round ${round}: VMs on the host carrying the uid`).toEqual([settled[0]!.externalId]);
        await expect.poll(async () => (await other.observeVm(identity))?.power, { timeout: ctx.eventTimeoutMs, interval: 200 }).toBe("Running");

        await Promise.all([ctx.session().deleteVm(identity), other.deleteVm(identity)]);
        expect(await ctx.session().observeVm(identity)).toBeUndefined();
        expect((await other.listVms()).filter((v) => v.identity?.uid === identity.uid)).toEqual([]);
        const { leftovers } = target.hooks;
        if (typeof leftovers === "function") {
          await expect.poll(() => leftovers(identity), { timeout: ctx.eventTimeoutMs, interval: 200 }).toEqual([]);
        } else {
          console.info(`${target.name}: no leftovers to check after delete: ${leftovers.notApplicable}`);
          expect(leftovers.notApplicable.length).toBeGreaterThan(0);
        }
      }
    } finally {
      await other.close();
    }
  });
}
