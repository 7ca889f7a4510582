// Conformance: power transitions — repeated targets are no-ops, impossible ones fail with a
// typed error, and a soft stop with a deadline always ends stopped.
import { expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

export function powerTests(ctx: ConformanceContext): void {
  it("power: reaching the state a VM is already in succeeds; impossible transitions fail as invalid-transition", async () => {
    const session = ctx.session();
    const identity = ctx.identity("power");
    await session.createVm(identity, ctx.spec());

    await session.setPower(identity, { state: "Stopped", mode: "Hard" }); // already stopped
    if (session.capabilities().pause) {
      const err: unknown = await session.setPower(identity, { state: "Paused" }).catch((e: unknown) => e);
      expect(errorKind(err), `pausing a stopped VM: ${String(err)}`).toBe("invalid-transition");
    }
    await session.setPower(identity, { state: "Running" });
    await session.setPower(identity, { state: "Running" }); // already running
    await ctx.eventuallyPower(identity, "Running");
    if (session.capabilities().pause) {
      await session.setPower(identity, { state: "Paused" });
      await session.setPower(identity, { state: "Paused" }); // already paused
      await ctx.eventuallyPower(identity, "Paused");
      // Paused → Stopped is allowed: a hard stop of a paused VM.
      await session.setPower(identity, { state: "Stopped", mode: "Hard" });
      await ctx.eventuallyPower(identity, "Stopped");
    }
    await session.deleteVm(identity);

    const absent: unknown = await session.setPower(identity, { state: "Running" }).catch((e: unknown) => e);
    expect(errorKind(absent)).toBe("not-found");
  });

  it("power: TrySoft with a deadline ends Stopped (soft, or hard once the deadline passed)", async () => {
    const session = ctx.session();
    const identity = ctx.identity("trysoft");
    await session.createVm(identity, ctx.spec("Running"));
    await ctx.eventuallyPower(identity, "Running");
    await session.setPower(identity, { state: "Stopped", mode: "TrySoft", deadlineSeconds: 3 });
    await ctx.eventuallyPower(identity, "Stopped");
    await session.deleteVm(identity);
  });
}
