// Conformance: what every driver says about migration on one host — whether it can migrate or
// not. Moving a VM needs a second host; each driver's own tests do that (libvirt between private
// daemons, xenserver and hyperv between fake hosts); docker and esxi cannot migrate at all.
import { expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

export function migrationTests(ctx: ConformanceContext): void {
  it("with nothing migrating, migrationProgress is undefined and cancelMigration changes nothing — for a running VM and for one that does not exist", async () => {
    const session = ctx.session();
    const identity = ctx.identity("nomove");
    const vm = await session.createVm(identity, ctx.spec("Running"));
    expect(await session.migrationProgress(identity)).toBeUndefined();
    await session.cancelMigration(identity);
    expect(await ctx.observe(identity)).toMatchObject({ externalId: vm.externalId, power: "Running" });
    expect(await session.migrationProgress(identity)).toBeUndefined();

    const absent = ctx.identity("nomove-absent");
    expect(await session.migrationProgress(absent)).toBeUndefined();
    await session.cancelMigration(absent);
    await session.deleteVm(identity);
  });

  it("migrateVm of a VM that is not there: not-found from a driver that migrates, unsupported (saying why) from one that cannot", async () => {
    const session = ctx.session();
    const err: unknown = await session.migrateVm(ctx.identity("nomove-missing"), { host: ctx.target.host, live: true }).catch((e: unknown) => e);
    if (session.capabilities().liveMigration) {
      expect(errorKind(err), String(err)).toBe("not-found");
    } else {
      expect(errorKind(err), String(err)).toBe("unsupported");
      expect((err as Error).message, "the error says why this driver cannot migrate").toMatch(/migrat|vMotion/i);
    }
  });
}
