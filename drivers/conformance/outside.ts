// Conformance: the driver sees what others do on the host — changes made with the hypervisor's
// own tools arrive as events, and VMs it did not create are listed (without identity) and can be
// adopted by external id.
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import type { ConformanceContext } from "./suite.ts";

export function outsideTests(ctx: ConformanceContext): void {
  it("changes made outside the driver arrive as events and show in observeVm", async () => {
    const session = ctx.session();
    const { hooks } = ctx.target;
    const identity = ctx.identity("outside");
    const vm = await session.createVm(identity, ctx.spec("Running"));
    await ctx.eventuallyPower(identity, "Running");

    await hooks.setPowerOutside(vm.externalId, "Stopped");
    await ctx.eventuallyPower(identity, "Stopped");
    await hooks.setPowerOutside(vm.externalId, "Running");
    await ctx.eventuallyPower(identity, "Running");
    const expected: Parameters<typeof ctx.events.waitFor>[1] = ["started", "stopped", "started"];
    if (session.capabilities().pause) {
      await hooks.setPowerOutside(vm.externalId, "Paused");
      await ctx.eventuallyPower(identity, "Paused");
      expected.push("paused");
    }
    await hooks.deleteOutside(vm.externalId);
    expected.push("deleted");
    await ctx.events.waitFor(vm.externalId, expected, ctx.eventTimeoutMs);
    expect(await session.observeVm(identity)).toBeUndefined();
  });

  it("listVms finds an unmanaged VM created outside the driver, and it can be adopted by external id", async () => {
    const session = ctx.session();
    const { hooks, prefix } = ctx.target;
    const name = `${prefix}-unmanaged`;
    const externalId = await hooks.createUnmanagedVm(name);
    try {
      const listed = (await session.listVms()).find((v) => v.externalId === externalId);
      expect(listed).toMatchObject({ name, managed: false, power: "Running" });
      expect(listed?.identity).toBeUndefined();

      const adopted = { uid: randomUUID(), name, externalId };
      expect(await session.observeVm(adopted)).toMatchObject({ externalId, managed: false });
      await session.setPower(adopted, { state: "Stopped", mode: "Hard" });
      await ctx.eventuallyPower(adopted, "Stopped");
    } finally {
      await hooks.deleteOutside(externalId);
    }
  });

  it("adoption by external id never takes another VM's VM, and takes an orphan's only when allowed (identity.mayAdopt)", async () => {
    const session = ctx.session();
    const owner = ctx.identity("owned");
    const vm = await session.createVm(owner, ctx.spec("Stopped"));
    try {
      const intruder = { ...ctx.identity("intruder"), externalId: vm.externalId };
      // another VirtualMachine names this VM in spec.adopt: the VM carries a uid that is not its own
      expect(await session.observeVm(intruder)).toBeUndefined();
      expect(await session.observeVm({ ...intruder, mayAdopt: () => false })).toBeUndefined();
      // the owner's object is gone (an orphan): the controller allows that uid, and only that one
      const seen: string[] = [];
      const adopter = { ...intruder, mayAdopt: (uid: string) => (seen.push(uid), uid === owner.uid) };
      expect(await session.observeVm(adopter)).toMatchObject({ externalId: vm.externalId });
      expect(seen).toContain(owner.uid);
      // the owner still finds its VM by its own uid
      expect(await session.observeVm(owner)).toMatchObject({ externalId: vm.externalId });
    } finally {
      await session.deleteVm(owner);
    }
  });
}
