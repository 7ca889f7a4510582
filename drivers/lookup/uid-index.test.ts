import { describe, expect, it } from "vitest";
import { lookupByUid, UidIndex, type LookupSteps } from "./uid-index.ts";

/** A host of VMs by handle, read through the index, counting what each lookup cost. */
function host(vms: Record<string, string | undefined>, index: UidIndex) {
  const cost = { reads: 0, lists: 0 };
  const steps: LookupSteps<{ ref: string; uid: string | undefined }> = {
    refresh: () => Promise.resolve(),
    read: (ref) => {
      cost.reads++;
      return Promise.resolve(ref in vms ? { ref, uid: vms[ref] } : undefined);
    },
    uidOf: (vm) => vm.uid,
    list: (uid) => {
      cost.lists++;
      index.reset(Object.entries(vms));
      const found = Object.entries(vms).find(([, u]) => u === uid);
      return Promise.resolve(found && { ref: found[0], uid: found[1] });
    },
  };
  return { cost, find: (uid: string) => lookupByUid(index, uid, steps) };
}

describe("UidIndex", () => {
  const table: { reason: string; given: (i: UidIndex) => void; uid: string; want: ReturnType<UidIndex["route"]> }[] = [
    { reason: "not synced: a miss lists", given: () => undefined, uid: "u1", want: { kind: "list" } },
    { reason: "synced: a miss is absent", given: (i) => i.reset([["vm-1", "u1"]]), uid: "u2", want: { kind: "absent" } },
    { reason: "synced: a hit is read", given: (i) => i.reset([["vm-1", "u1"]]), uid: "u1", want: { kind: "read", ref: "vm-1" } },
    { reason: "a VM whose uid changed is indexed under its new uid only", given: (i) => (i.reset([["vm-1", "u1"]]), i.put("vm-1", "u9")), uid: "u1", want: { kind: "absent" } },
    { reason: "a VM that lost its uid (unmanaged now) is not indexed", given: (i) => (i.reset([["vm-1", "u1"]]), i.put("vm-1", undefined)), uid: "u1", want: { kind: "absent" } },
    { reason: "a removed VM is absent", given: (i) => (i.reset([["vm-1", "u1"]]), i.remove("vm-1")), uid: "u1", want: { kind: "absent" } },
    { reason: "a uid moved to another VM: the newest wins", given: (i) => (i.reset([["vm-1", "u1"]]), i.put("vm-2", "u1")), uid: "u1", want: { kind: "read", ref: "vm-2" } },
    { reason: "removing the old VM of a moved uid keeps the new one", given: (i) => (i.reset([["vm-1", "u1"]]), i.put("vm-2", "u1"), i.remove("vm-1")), uid: "u1", want: { kind: "read", ref: "vm-2" } },
    { reason: "invalidated (feed broke): a miss lists again", given: (i) => (i.reset([["vm-1", "u1"]]), i.invalidate()), uid: "u1", want: { kind: "list" } },
    { reason: "a merge keeps entries the listing did not see", given: (i) => (i.put("vm-new", "u2"), i.merge([["vm-1", "u1"]])), uid: "u2", want: { kind: "read", ref: "vm-new" } },
  ];
  for (const { reason, given, uid, want } of table) {
    it(reason, () => {
      const index = new UidIndex();
      given(index);
      expect(index.route(uid)).toEqual(want);
    });
  }

  it("a polled index believes a miss only while its last listing is fresh", () => {
    let now = 0;
    const index = new UidIndex({ trustMissesForMs: 1_000, now: () => now });
    index.merge([]);
    expect(index.route("u1")).toEqual({ kind: "absent" });
    now = 1_001;
    expect(index.route("u1")).toEqual({ kind: "list" });
  });
});

describe("lookupByUid", () => {
  it("a hit costs one read, a miss in a synced index costs nothing", async () => {
    const index = new UidIndex();
    index.reset([["vm-1", "u1"]]);
    const { cost, find } = host({ "vm-1": "u1" }, index);
    expect(await find("u1")).toEqual({ ref: "vm-1", uid: "u1" });
    expect(await find("u2")).toBeUndefined();
    expect(cost).toEqual({ reads: 1, lists: 0 });
  });

  it("a VM removed outside (stale entry) is dropped and not found, after one re-check listing", async () => {
    const index = new UidIndex();
    index.reset([["vm-1", "u1"]]);
    const { cost, find } = host({}, index);
    expect(await find("u1")).toBeUndefined();
    expect(await find("u1")).toBeUndefined();
    expect(cost).toEqual({ reads: 1, lists: 1 });
  });

  it("never returns another uid's VM: a handle reused by another VM is re-checked", async () => {
    const index = new UidIndex();
    index.reset([["vm-1", "u1"]]);
    const { find } = host({ "vm-1": "u2", "vm-7": "u1" }, index);
    expect(await find("u1")).toEqual({ ref: "vm-7", uid: "u1" });
  });

  it("before the first sync, a lookup lists once and the index serves the next", async () => {
    const index = new UidIndex();
    const { cost, find } = host({ "vm-1": "u1", "vm-2": "u2" }, index);
    expect(await find("u2")).toEqual({ ref: "vm-2", uid: "u2" });
    expect(await find("u1")).toEqual({ ref: "vm-1", uid: "u1" });
    expect(cost).toEqual({ reads: 1, lists: 1 });
  });
});
