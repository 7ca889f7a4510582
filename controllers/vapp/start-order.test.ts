import { describe, expect, it } from "vitest";
import { allGroup, groupPoweredOn, nextStart, nextStop, restGroup, startGroups, type GroupRecord, type MemberState } from "./start-order.ts";

const member = (name: string) => ({ name, spec: {} }) as never;
const spec = {
  members: ["db", "app-1", "app-2", "cache", "batch"].map(member),
  startOrder: [
    { name: "data", members: ["db", "cache"], delaySeconds: 0, waitFor: "Ready" as const },
    { name: "apps", members: ["app-1", "app-2", "db"], delaySeconds: 30, waitFor: "Started" as const },
  ],
};
const groups = startGroups(spec);
const t0 = Date.parse("2026-12-06T10:00:00.000Z");
const at = (s: number): string => new Date(t0 + s * 1000).toISOString();
const off: MemberState = { wantsRunning: true, started: false, ready: false, stopped: true };
const started: MemberState = { wantsRunning: true, started: true, ready: false, stopped: false };
const ready: MemberState = { ...started, ready: true };
const all = (s: MemberState) => () => s;

describe("start groups", () => {
  it("given a startOrder, then its groups in order (a member counts in its first group), then the members in none", () => {
    expect(groups.map((g) => [g.name, g.members])).toEqual([
      ["data", ["db", "cache"]],
      ["apps", ["app-1", "app-2"]],
      [restGroup, ["batch"]],
    ]);
  });

  it("given no startOrder, then one group of every member", () => {
    expect(startGroups({ members: [member("a"), member("b")] })).toEqual([{ name: allGroup, members: ["a", "b"], delaySeconds: 0, waitFor: "Started" }]);
  });
});

describe("the next start step", () => {
  const cases: { name: string; records: GroupRecord[]; state: (m: string) => MemberState; now: number; want: object }[] = [
    { name: "nothing powered on: the first group powers on", records: [], state: all(off), now: 0, want: { kind: "power-on", group: { name: "data" } } },
    { name: "the first group asked, its members running but not Ready (waitFor Ready): wait", records: [{ name: "data", poweredOnAt: at(0) }], state: all(started), now: 5, want: { kind: "wait-members", pending: ["db", "cache"] } },
    { name: "the first group Ready: it is started", records: [{ name: "data", poweredOnAt: at(0) }], state: all(ready), now: 5, want: { kind: "started", group: { name: "data" } } },
    { name: "the first group started 10 s ago, the next waits 30 s: wait until then", records: [{ name: "data", poweredOnAt: at(0), startedAt: at(5) }], state: all(ready), now: 15, want: { kind: "wait-delay", after: "data", untilMs: t0 + 35_000 } },
    { name: "the delay is over: the next group powers on", records: [{ name: "data", poweredOnAt: at(0), startedAt: at(5) }], state: all(ready), now: 35, want: { kind: "power-on", group: { name: "apps" } } },
    {
      name: "a member whose own spec says Stopped is not waited for",
      records: [{ name: "data", poweredOnAt: at(0) }],
      state: (m) => (m === "cache" ? { ...off, wantsRunning: false } : ready),
      now: 1,
      want: { kind: "started" },
    },
    {
      name: "every group started: running",
      records: [{ name: "data", poweredOnAt: at(0), startedAt: at(1) }, { name: "apps", poweredOnAt: at(31), startedAt: at(32) }, { name: restGroup, poweredOnAt: at(32), startedAt: at(33) }],
      state: all(ready),
      now: 40,
      want: { kind: "running" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(nextStart(groups, c.records, c.state, t0 + c.now * 1000)).toMatchObject(c.want);
    });
  }
});

describe("the next stop step (reverse start order)", () => {
  const on: GroupRecord[] = [{ name: "data", poweredOnAt: at(0), startedAt: at(1) }, { name: "apps", poweredOnAt: at(31), startedAt: at(32) }, { name: restGroup, poweredOnAt: at(32), startedAt: at(33) }];
  it("given every group on, then the last group powers off first", () => {
    expect(nextStop(groups, on, all(ready))).toMatchObject({ kind: "power-off", group: { name: restGroup } });
  });
  it("given the last group asked to stop and still running, then it is waited for", () => {
    expect(nextStop(groups, [on[0]!, on[1]!, { name: restGroup }], all(ready))).toMatchObject({ kind: "wait-stopped", pending: ["batch"] });
  });
  it("given the last group off, then it is done and the one before powers off next", () => {
    expect(nextStop(groups, [on[0]!, on[1]!, { name: restGroup }], all(off))).toMatchObject({ kind: "stopped", group: { name: restGroup } });
    expect(nextStop(groups, [on[0]!, on[1]!], all(off))).toMatchObject({ kind: "power-off", group: { name: "apps" } });
  });
  it("given no records, then everything is stopped", () => {
    expect(nextStop(groups, [], all(off))).toEqual({ kind: "all-stopped" });
  });
  it("a member runs only while its group's power-on stands", () => {
    expect(groupPoweredOn(groups, on, "app-1")).toBe(true);
    expect(groupPoweredOn(groups, [on[0]!, { name: "apps" }], "app-1")).toBe(false);
    expect(groupPoweredOn(groups, [], "db")).toBe(false);
  });
});
