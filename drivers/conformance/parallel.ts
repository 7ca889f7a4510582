// Conformance: many VMs created at once through one session do not interfere — each gets its
// own VM, carrying its own identity, and all of them run and are removed.
import { expect, it } from "vitest";
import type { ConformanceContext } from "./suite.ts";

export function parallelTests(ctx: ConformanceContext): void {
  const count = ctx.target.parallel ?? 20;

  it(`${count} VMs created in parallel without interference`, async () => {
    const session = ctx.session();
    const identities = Array.from({ length: count }, (_, i) => ctx.identity(`par${String(i).padStart(2, "0")}`));
    try {
      const created = await Promise.all(identities.map((id) => session.createVm(id, ctx.spec("Running"))));
      expect(new Set(created.map((v) => v.externalId)).size).toBe(count);
      created.forEach((vm, i) => expect(vm.identity?.uid).toBe(identities[i]?.uid));

      const byUid = new Map((await session.listVms()).filter((v) => v.identity !== undefined).map((v) => [v.identity?.uid, v]));
      for (const [i, id] of identities.entries()) {
        const vm = byUid.get(id.uid);
        expect(vm, `VM ${id.name} is listed with its uid`).toBeDefined();
        expect(vm?.externalId).toBe(created[i]?.externalId);
        expect(vm?.name).toBe(id.name);
      }
      await Promise.all(identities.map((id) => ctx.eventuallyPower(id, "Running")));
    } finally {
      await Promise.all(identities.map((id) => session.deleteVm(id)));
    }
    const left = (await session.listVms()).filter((v) => identities.some((id) => id.uid === v.identity?.uid));
    expect(left).toEqual([]);
  });
}
