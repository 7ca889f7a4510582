import { describe, expect, it } from "vitest";
import type { VmObject } from "../fleet/kinds.ts";
import { beingMoved } from "./vm-reporter.ts";

const vm = (migrating?: "True" | "False"): VmObject =>
  ({
    metadata: { name: "v", namespace: "ns", uid: "u" },
    spec: { memory: "256Mi", cpus: 1 },
    status: { host: "a", conditions: migrating ? [{ type: "Migrating", status: migrating, reason: migrating === "True" ? "Migrating" : "Moved", message: "", lastTransitionTime: "2026-12-07T00:00:00Z" }] : [] },
  }) as unknown as VmObject;

describe("a VM leaving its host", () => {
  it("is being moved while its controller says Migrating=True, and not before or after", () => {
    expect(beingMoved(vm("True"))).toBe(true);
    expect(beingMoved(vm("False"))).toBe(false);
    expect(beingMoved(vm())).toBe(false);
  });
});
