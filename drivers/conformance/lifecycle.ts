// Conformance: create / observe / power / update / delete round trip, idempotent create, and
// delete of what is not there.
import { expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";

export function lifecycleTests(ctx: ConformanceContext): void {
  it("lifecycle round trip: create, start, pause, resume, stop, delete — with an event for each", async () => {
    const session = ctx.session();
    const identity = ctx.identity("roundtrip");
    const spec = ctx.spec();

    const created = await session.createVm(identity, spec);
    expect(created).toMatchObject({ managed: true, name: identity.name, power: "Stopped", cpus: spec.cpus, memoryMiB: spec.memoryMiB });
    expect(created.identity?.uid).toBe(identity.uid);
    const id = created.externalId;

    await session.setPower(identity, { state: "Running" });
    await ctx.eventuallyPower(identity, "Running");
    const expected: Parameters<typeof ctx.events.waitFor>[1] = ["defined", "started"];
    if (session.capabilities().pause) {
      await session.setPower(identity, { state: "Paused" });
      await ctx.eventuallyPower(identity, "Paused");
      await session.setPower(identity, { state: "Running" });
      await ctx.eventuallyPower(identity, "Running");
      expected.push("paused", "resumed");
    }
    await session.setPower(identity, { state: "Stopped", mode: "Hard" });
    await ctx.eventuallyPower(identity, "Stopped");
    await session.deleteVm(identity);
    expect(await session.observeVm(identity)).toBeUndefined();
    expect((await session.listVms()).map((v) => v.externalId)).not.toContain(id);

    const events = await ctx.events.waitFor(id, [...expected, "stopped", "deleted"], ctx.eventTimeoutMs);
    const managed = events.find((e) => e.type === "started");
    expect(managed?.identity?.uid, "events of a managed VM carry its identity").toBe(identity.uid);
  });

  it("create is idempotent: the same identity twice, one after the other or at once, is one VM", async () => {
    const session = ctx.session();
    const identity = ctx.identity("idem");
    const first = await session.createVm(identity, ctx.spec("Running"));
    const again = await session.createVm(identity, ctx.spec("Running"));
    const racing = await Promise.all([session.createVm(identity, ctx.spec("Running")), session.createVm(identity, ctx.spec("Running"))]);
    expect(new Set([first, again, ...racing].map((v) => v.externalId))).toEqual(new Set([first.externalId]));
    const withUid = (await session.listVms()).filter((v) => v.identity?.uid === identity.uid);
    expect(withUid).toHaveLength(1);
    expect(withUid[0]?.power).toBe("Running");

    const racingUids = ctx.identity("idem-race");
    const both = await Promise.all([session.createVm(racingUids, ctx.spec()), session.createVm(racingUids, ctx.spec())]);
    expect(both[0].externalId).toBe(both[1].externalId);

    await session.deleteVm(identity);
    await session.deleteVm(racingUids);
  });

  it("create of a name another VM already has fails as terminal (name-taken), leaving that VM alone", async () => {
    const session = ctx.session();
    const owner = ctx.identity("taken");
    const vm = await session.createVm(owner, ctx.spec());
    const intruder = { ...ctx.identity("taken"), name: owner.name };
    const err: unknown = await session.createVm(intruder, ctx.spec()).catch((e: unknown) => e);
    expect(errorKind(err)).toBe("terminal");
    expect((err as { reason?: string }).reason).toBe("name-taken");
    expect((await ctx.observe(owner)).externalId).toBe(vm.externalId);
    await session.deleteVm(owner);
  });

  it("delete of an absent VM succeeds, also twice", async () => {
    const session = ctx.session();
    const never = ctx.identity("never");
    await session.deleteVm(never);
    await session.deleteVm({ ...never, externalId: "no-such-vm-0000" });
    const once = ctx.identity("twice");
    await session.createVm(once, ctx.spec());
    await session.deleteVm(once);
    await session.deleteVm(once);
    expect(await session.observeVm(once)).toBeUndefined();
  });

  it("updateVm changes CPUs and memory of a stopped VM", async () => {
    const session = ctx.session();
    const identity = ctx.identity("update");
    const spec = ctx.spec();
    await session.createVm(identity, spec);
    const bigger = { ...spec, cpus: spec.cpus + 1, memoryMiB: spec.memoryMiB * 2 };
    const updated = await session.updateVm(identity, bigger);
    expect(updated).toMatchObject({ cpus: bigger.cpus, memoryMiB: bigger.memoryMiB });
    expect(await ctx.observe(identity)).toMatchObject({ cpus: bigger.cpus, memoryMiB: bigger.memoryMiB });
    await session.deleteVm(identity);
    const absent: unknown = await session.updateVm(identity, bigger).catch((e: unknown) => e);
    expect(errorKind(absent)).toBe("not-found");
  });
}
