import { describe, expect, it } from "vitest";
import { UidIndex } from "../lookup/uid-index.ts";
import { applyUpdates } from "./lookups.ts";
import { moRef } from "./vim25/encode.ts";
import type { ObjectUpdate } from "./vim25/property-collector.ts";
import { parseXml } from "./vim25/xml.ts";

const managed = (uid: string) => ({
  name: "config.extraConfig",
  op: "assign" as const,
  val: parseXml(`<val><OptionValue><key>io.omnivisor.uid</key><value>${uid}</value></OptionValue></val>`),
});
const update = (kind: ObjectUpdate["kind"], id: string, changes: ObjectUpdate["changes"] = []): ObjectUpdate => ({ kind, obj: moRef("VirtualMachine", id), changes });

describe("the ESXi uid index, from PropertyCollector updates", () => {
  it("a VM entering with its uid is found; one registering without config yet is not, until its extraConfig arrives", () => {
    const index = new UidIndex();
    index.reset([]);
    applyUpdates(index, [update("enter", "vm-1", [managed("u1")]), update("enter", "vm-2")]);
    expect(index.route("u1")).toEqual({ kind: "read", ref: "vm-1" });
    expect(index.route("u2")).toEqual({ kind: "absent" });
    applyUpdates(index, [update("modify", "vm-2", [managed("u2")])]);
    expect(index.route("u2")).toEqual({ kind: "read", ref: "vm-2" });
  });

  it("a VM that left is gone; a modify that does not touch extraConfig keeps the entry", () => {
    const index = new UidIndex();
    index.reset([["vm-1", "u1"], ["vm-2", "u2"]]);
    applyUpdates(index, [update("leave", "vm-1"), update("modify", "vm-2", [{ name: "name", op: "assign", val: parseXml("<val>x</val>") }])]);
    expect(index.route("u1")).toEqual({ kind: "absent" });
    expect(index.route("u2")).toEqual({ kind: "read", ref: "vm-2" });
  });
});
