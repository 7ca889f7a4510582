import { describe, expect, it } from "vitest";
import type { VmMigrationObject } from "./kinds.ts";
import { MovesByVm, inFlight, started } from "./moves.ts";
import type { Informer, InformerHandlers } from "../runtime/informer.ts";

const m = (name: string, vm: string, at: string, status?: VmMigrationObject["status"]): VmMigrationObject => ({ metadata: { name, namespace: "t", creationTimestamp: at }, spec: { virtualMachine: vm, live: true }, ...(status ? { status } : {}) });

function fakeInformer(initial: VmMigrationObject[]): { informer: Informer<VmMigrationObject>; handlers: InformerHandlers<VmMigrationObject>[] } {
  const handlers: InformerHandlers<VmMigrationObject>[] = [];
  const informer = { list: () => initial, on: (h: InformerHandlers<VmMigrationObject>) => void handlers.push(h) } as unknown as Informer<VmMigrationObject>;
  return { informer, handlers };
}

describe("a VM's moves", () => {
  it("are kept per VM, oldest first, and only the unfinished ones are in flight", () => {
    const { informer, handlers } = fakeInformer([m("second", "web", "2026-12-06T10:00:02Z"), m("first", "web", "2026-12-06T10:00:01Z", { phase: "Succeeded" })]);
    const moves = new MovesByVm();
    moves.follow(informer);
    expect(moves.of("t/web").map((x) => x.metadata.name)).toEqual(["first", "second"]);
    expect(moves.inFlight("t/web").map((x) => x.metadata.name)).toEqual(["second"]);
    handlers[0]!.deleted?.(m("second", "web", "2026-12-06T10:00:02Z"));
    expect(moves.inFlight("t/web")).toEqual([]);
    expect(moves.of("t/db")).toEqual([]);
  });

  it("has started once Running with both ends recorded", () => {
    expect(started(m("x", "web", "", { phase: "Running", sourceHost: "a", targetHost: "b" }))).toBe(true);
    expect(started(m("x", "web", "", { phase: "Running", sourceHost: "a" }))).toBe(false);
    expect(started(m("x", "web", "", { phase: "Scheduling", sourceHost: "a", targetHost: "b" }))).toBe(false);
    expect(inFlight(m("x", "web", ""))).toBe(true);
    expect(inFlight(m("x", "web", "", { phase: "Cancelled" }))).toBe(false);
  });
});
