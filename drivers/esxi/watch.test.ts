import { describe, expect, it } from "vitest";
import { moRef } from "./vim25/encode.ts";
import type { ObjectUpdate } from "./vim25/property-collector.ts";
import { parseXml } from "./vim25/xml.ts";
import { eventsFor, missed, type KnownVm } from "./watch.ts";

const at = new Date(0);
const val = (xml: string) => parseXml(`<val>${xml}</val>`);
const power = (state: string) => ({ name: "runtime.powerState", op: "assign" as const, val: val(state) });
const named = (name: string) => ({ name: "name", op: "assign" as const, val: val(name) });
const managed = (uid: string) => ({
  name: "config.extraConfig",
  op: "assign" as const,
  val: val(`<OptionValue><key>io.omnivisor.uid</key><value>${uid}</value></OptionValue>`),
});
const update = (kind: ObjectUpdate["kind"], id: string, changes: ObjectUpdate["changes"] = []): ObjectUpdate => ({ kind, obj: moRef("VirtualMachine", id), changes });

describe("eventsFor", () => {
  it("a new running VM is defined, then started, and carries its identity", () => {
    const known = new Map<string, KnownVm>();
    const events = eventsFor(known, update("enter", "vm-1", [named("ns.a"), power("poweredOn"), managed("u-1")]), at);
    expect(events.map((e) => e.type)).toEqual(["defined", "started"]);
    expect(events[1]?.identity?.uid).toBe("u-1");
  });

  it("a VM announced again (vcsim re-sends enter) is not defined twice", () => {
    const known = new Map<string, KnownVm>([["vm-1", { name: "a", power: "poweredOn", identity: undefined }]]);
    expect(eventsFor(known, update("enter", "vm-1", [named("a"), power("poweredOn")]), at)).toEqual([]);
  });

  it("power changes: suspend is paused, power-on from suspended is resumed, power-off is stopped", () => {
    const known = new Map<string, KnownVm>([["vm-1", { name: "a", power: "poweredOn", identity: undefined }]]);
    const types = ["suspended", "poweredOn", "poweredOff"].flatMap((s) => eventsFor(known, update("modify", "vm-1", [power(s)]), at).map((e) => e.type));
    expect(types).toEqual(["paused", "resumed", "stopped"]);
  });

  it("a deleted VM keeps the identity it had", () => {
    const known = new Map<string, KnownVm>([["vm-1", { name: "a", power: "poweredOff", identity: { uid: "u-1", name: "a" } }]]);
    expect(eventsFor(known, update("leave", "vm-1"), at)).toMatchObject([{ type: "deleted", identity: { uid: "u-1" } }]);
    expect(known.size).toBe(0);
  });
});

describe("missed", () => {
  it("reports what changed while no feed was open", () => {
    const known = new Map<string, KnownVm>([
      ["vm-1", { name: "a", power: "poweredOn", identity: undefined }],
      ["vm-2", { name: "b", power: "poweredOn", identity: undefined }],
    ]);
    const baseline = [update("enter", "vm-1", [named("a"), power("poweredOff")]), update("enter", "vm-3", [named("c"), power("poweredOff")])];
    const events = missed(known, baseline, at);
    expect(events.map((e) => `${e.externalId}:${e.type}`).sort()).toEqual(["vm-1:stopped", "vm-2:deleted", "vm-3:defined"]);
    expect(events.every((e) => e.detail?.includes("missed"))).toBe(true);
  });
});
