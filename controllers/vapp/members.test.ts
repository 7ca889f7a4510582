import { describe, expect, it } from "vitest";
import type { VAppObject, VmObject } from "../../src/fleet/kinds.ts";
import { desiredVm, ownership, upToDate, type Member } from "./members.ts";

const vapp = {
  metadata: { name: "shop", namespace: "team-a", uid: "u-1", labels: { "omnivisor.io/scenario": "s1", "app.kubernetes.io/instance": "argo" } },
  spec: {},
} as unknown as VAppObject;
const db: Member = { name: "db", labels: { tier: "db" }, spec: { cpus: 1, memory: "64Mi", powerState: "Running", powerOff: { mode: "Hard", timeoutSeconds: 5 } } };

describe("a member's VirtualMachine", () => {
  const want = desiredVm(vapp, db, "Stopped");

  it("is named <vapp>-<member>, controlled by the VApp, with the member's labels, the vApp's name and its omnivisor.io/ labels only", () => {
    expect(want.metadata).toMatchObject({
      name: "shop-db",
      namespace: "team-a",
      labels: { tier: "db", "omnivisor.io/vapp": "shop", "omnivisor.io/vapp-member": "db", "omnivisor.io/scenario": "s1" },
      ownerReferences: [{ apiVersion: "omnivisor.io/v1alpha1", kind: "VApp", name: "shop", uid: "u-1", controller: true, blockOwnerDeletion: true }],
    });
    expect(want.metadata.labels).not.toHaveProperty("app.kubernetes.io/instance");
  });

  it("has the member's spec with the power the start order allows", () => {
    expect(want.spec).toEqual({ ...db.spec, powerState: "Stopped" });
  });

  it("given a member without powerState or powerOff, then its VM spec carries the VirtualMachine schema's defaults (what the VM holds once made)", () => {
    const bare: Member = { name: "web", spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "tiny" }] } };
    expect(desiredVm(vapp, bare, "Running").spec).toEqual({ cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "tiny" }], powerState: "Running", powerOff: { mode: "TrySoft", timeoutSeconds: 120 } });
  });

  it("given a vApp name longer than a label value may be, then the VM goes without the omnivisor.io/vapp label (its owner reference names the vApp)", () => {
    const long = { ...vapp, metadata: { ...vapp.metadata, name: "x".repeat(64) } };
    const vm = desiredVm(long, db, "Running");
    expect(vm.metadata.labels).not.toHaveProperty("omnivisor.io/vapp");
    expect(vm.metadata.ownerReferences[0]).toMatchObject({ name: "x".repeat(64) });
  });

  it("is up to date only with the same digest and spec; a power or spec change is not", () => {
    const vm = { metadata: { ...want.metadata }, spec: structuredClone(want.spec) } as unknown as VmObject;
    expect(upToDate(vm, want)).toBe(true);
    expect(upToDate(vm, desiredVm(vapp, db, "Running"))).toBe(false);
    expect(upToDate(vm, desiredVm(vapp, { ...db, spec: { ...db.spec, cpus: 2 } }, "Stopped"))).toBe(false);
    expect(upToDate({ ...vm, spec: { ...vm.spec, cpus: 4 } }, want), "edited outside the vApp").toBe(false);
  });

  it("belongs to this vApp by its controller reference's uid; an earlier vApp of the same name, or anyone else, is told apart", () => {
    const owned = (uid: string, kind = "VApp", name = "shop") => ({ metadata: { name: "shop-db", ownerReferences: [{ apiVersion: "x", kind, name, uid, controller: true }] }, spec: {} }) as unknown as VmObject;
    expect(ownership(owned("u-1"), vapp)).toBe("ours");
    expect(ownership(owned("u-0"), vapp)).toBe("earlier");
    expect(ownership(owned("u-9", "Deployment", "x"), vapp)).toBe("foreign");
    expect(ownership({ metadata: { name: "shop-db" }, spec: {} } as unknown as VmObject, vapp)).toBe("foreign");
  });
});
