import { describe, expect, it } from "vitest";
import type { VAppStatus } from "../../src/api/index.ts";
import type { VAppObject, VmObject } from "../../src/fleet/kinds.ts";
import { memberState, type VAppPass } from "./pass.ts";
import { startInOrder, stopInOrder } from "./sequence.ts";
import { startGroups } from "./start-order.ts";

const t0 = Date.parse("2026-12-06T10:00:00.000Z");
const iso = (s: number): string => new Date(t0 + s * 1000).toISOString();
const member = (name: string) => ({ name, spec: { cpus: 1, memory: "64Mi" } });
const spec = { members: ["db", "web"].map(member), startOrder: [{ name: "data", members: ["db"] }, { name: "front", members: ["web"], delaySeconds: 20 }], powerState: "Running" as const, failurePolicy: "Rollback" as const };
type Power = "Running" | "Stopped" | undefined;
const vm = (power: Power, created = true): VmObject =>
  ({ metadata: { name: "x" }, spec: {}, status: { powerState: power, conditions: created ? [{ type: "Created", status: "True", reason: "Created", message: "", lastTransitionTime: iso(0) }] : [] } }) as unknown as VmObject;

/** A pass over the vApp above: its members' VMs as given, status as given, the clock at `now` seconds. */
function pass(vms: Record<string, VmObject | undefined>, status: VAppStatus, now: number, powerState: "Running" | "Stopped" = "Running") {
  const events: string[] = [];
  const vapp = { metadata: { name: "shop", namespace: "t" }, spec: { ...spec, powerState } } as unknown as VAppObject;
  const owned = new Map(Object.entries(vms).filter((e): e is [string, VmObject] => e[1] !== undefined));
  const p = {
    ctx: { object: vapp, status, event: (_t: string, reason: string, message: string) => events.push(`${reason}: ${message}`) },
    env: { now: () => t0 + now * 1000 },
    vapp,
    groups: startGroups(vapp.spec),
    owned,
    inTheWay: new Map(),
    removed: [],
    state: (name: string) => memberState(vapp.spec.members.find((m) => m.name === name), owned.get(name)),
  } as unknown as VAppPass;
  return { p, events, status };
}

describe("powering a vApp on in start order", () => {
  it("given a member not on its hypervisor yet, then nothing powers on: Provisioning names it", () => {
    const { p, status, events } = pass({ db: vm("Stopped"), web: vm(undefined, false) }, {}, 0);
    expect(startInOrder(p)).toMatchObject({ phase: "Provisioning", message: expect.stringContaining("waiting for web") as unknown });
    expect(status.groups).toBeUndefined();
    expect(events).toEqual([]);
  });

  it("given every member on its hypervisor, then the first group's power-on is recorded and it is waited for", () => {
    const { p, status, events } = pass({ db: vm("Stopped"), web: vm("Stopped") }, {}, 1);
    expect(startInOrder(p)).toMatchObject({ phase: "Starting", reason: "Starting", message: "group data: waiting for db to be started" });
    expect(status.groups).toEqual([{ name: "data", poweredOnAt: iso(1) }]);
    expect(events).toEqual(["Provisioned: all 2 members are on their hypervisors; powering on in start order", "PoweringOn: group data: powering on db"]);
  });

  it("given the first group started, then the next waits for its delay by a requeue until then, not a sleep", () => {
    const { p, status } = pass({ db: vm("Running"), web: vm("Stopped") }, { groups: [{ name: "data", poweredOnAt: iso(1) }] }, 5);
    expect(startInOrder(p)).toMatchObject({ phase: "Starting", reason: "WaitingForDelay", requeueAfterMs: 20_000 });
    expect(status.groups).toEqual([{ name: "data", poweredOnAt: iso(1), startedAt: iso(5) }]);
  });

  it("given the delay over and the last group started, then Running", () => {
    const { p, events } = pass({ db: vm("Running"), web: vm("Running") }, { phase: "Starting", groups: [{ name: "data", poweredOnAt: iso(1), startedAt: iso(5) }, { name: "front", poweredOnAt: iso(25) }] }, 26);
    expect(startInOrder(p)).toMatchObject({ phase: "Running" });
    expect(events.map((e) => e.split(":")[0])).toEqual(["GroupStarted", "Running"]);
  });
});

describe("powering a vApp off in reverse order", () => {
  const on = { groups: [{ name: "data", poweredOnAt: iso(1), startedAt: iso(5) }, { name: "front", poweredOnAt: iso(25), startedAt: iso(26) }] };

  it("given every group on, then the last group is powered off first and the first is untouched", () => {
    const { p, status } = pass({ db: vm("Running"), web: vm("Running") }, structuredClone(on), 30, "Stopped");
    expect(stopInOrder(p)).toMatchObject({ phase: "Stopping", message: "group front: waiting for web to stop" });
    expect(status.groups).toEqual([on.groups[0], { name: "front" }]);
  });

  it("given the last group off, then the first one powers off next", () => {
    const { p, status } = pass({ db: vm("Running"), web: vm("Stopped") }, { groups: [on.groups[0]!, { name: "front" }] }, 31, "Stopped");
    expect(stopInOrder(p)).toMatchObject({ phase: "Stopping", message: "group data: waiting for db to stop" });
    expect(status.groups).toEqual([{ name: "data" }]);
  });

  it("given every member off, then Stopped and no group recorded", () => {
    const { p, status } = pass({ db: vm("Stopped"), web: vm("Stopped") }, { phase: "Stopping", groups: [{ name: "data" }] }, 32, "Stopped");
    expect(stopInOrder(p)).toMatchObject({ phase: "Stopped" });
    expect(status.groups).toBeUndefined();
  });
});
