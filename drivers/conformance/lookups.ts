// Conformance: lookups by uid. Drivers answer observeVm(identity) — and the lookups inside
// createVm, setPower, updateVm and deleteVm — from a per-session index rather than a listing of
// the host, so these scenarios pin down what an index must never get wrong: a VM is found by its
// own uid (never another's) right after createVm returns, among many; it is not found right after
// deleteVm, nor right after it was removed outside the driver (before any event of it is waited
// for); and a new session (a reconnect) finds what the first made, so a retried create is the
// same VM. They apply to every driver: drivers that read the host per call pass them trivially.
import { expect, it } from "vitest";
import type { VmIdentity } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

/** How many VMs the "among many" scenario makes (one after another, each checked at once). */
const many = 8;

export function lookupTests(ctx: ConformanceContext): void {
  it("lookup by uid among many VMs: each found right after its create (never another's), none right after its delete", async () => {
    const session = ctx.session();
    const made: { identity: VmIdentity; externalId: string }[] = [];
    for (let i = 0; i < many; i++) {
      const identity = ctx.identity(`many-${i}`);
      const vm = await session.createVm(identity, ctx.spec());
      expect((await session.observeVm(identity))?.externalId, `VM ${i} right after its create`).toBe(vm.externalId);
      made.push({ identity, externalId: vm.externalId });
    }
    for (const { identity, externalId } of made) {
      const found = await session.observeVm(identity);
      expect(found?.externalId).toBe(externalId);
      expect(found?.identity?.uid).toBe(identity.uid);
    }
    const [deleted, kept] = [made.filter((_, i) => i % 2 === 0), made.filter((_, i) => i % 2 === 1)];
    for (const { identity } of deleted) {
      await session.deleteVm(identity);
      expect(await session.observeVm(identity), `${identity.name} right after its delete`).toBeUndefined();
    }
    for (const { identity, externalId } of kept) expect((await session.observeVm(identity))?.externalId).toBe(externalId);
    // Lookups inside the other calls go through the same index.
    const [first] = kept;
    await session.setPower(first!.identity, { state: "Running" });
    await ctx.eventuallyPower(first!.identity, "Running");
    for (const { identity } of kept) await session.deleteVm(identity);
    for (const { identity } of made) expect(await session.observeVm(identity)).toBeUndefined();
  });

  it("a VM removed outside the driver is not found by uid, at once, and its uid's calls see it gone", async () => {
    const session = ctx.session();
    const identity = ctx.identity("gone-outside");
    const vm = await session.createVm(identity, ctx.spec());
    expect((await ctx.observe(identity)).externalId).toBe(vm.externalId);
    await ctx.target.hooks.deleteOutside(vm.externalId);
    expect(await session.observeVm(identity)).toBeUndefined();
    const err: unknown = await session.setPower(identity, { state: "Running" }).catch((e: unknown) => e);
    expect((err as { kind?: string }).kind).toBe("not-found");
    await session.deleteVm(identity);
  });

  it("a new session (a reconnect) finds the first session's VM by uid, a create retried there is that VM, and a delete there is seen by the first", async () => {
    const session = ctx.session();
    const identity = ctx.identity("reconnect");
    const vm = await session.createVm(identity, ctx.spec());
    const { target } = ctx;
    const second = await target.driver().connect(target.host, target.credentials, AbortSignal.timeout(30_000));
    try {
      expect((await second.observeVm(identity))?.externalId).toBe(vm.externalId);
      expect((await second.createVm(identity, ctx.spec())).externalId).toBe(vm.externalId);
      await second.deleteVm(identity);
      expect(await second.observeVm(identity)).toBeUndefined();
      expect(await session.observeVm(identity)).toBeUndefined();
    } finally {
      await second.close();
    }
  });
}
