import { describe, expect, it } from "vitest";
import { chargedThrough, formatBytes, machineUsage, vappCharge } from "./quota.ts";

const member = (name: string, cpus: number, driver?: "docker") => ({ name, spec: { cpus, memory: "64Mi", ...(driver ? { placement: { driver } } : {}) } });
const vapp = { metadata: { name: "shop", namespace: "a", uid: "vapp-uid" }, spec: { members: [member("db", 2, "docker"), member("web", 1)] } };
const owned = (name: string, cpus: number, uid = "vapp-uid") => ({
  metadata: { name, namespace: "a", ownerReferences: [{ apiVersion: "omnivisor.io/v1alpha1", kind: "VApp", name: "shop", uid, controller: true }] },
  spec: { cpus, memory: "64Mi" },
});

describe("quota usage", () => {
  it("a VApp counts all its members; per driver those that name one", () => {
    const c = vappCharge(vapp.spec);
    expect(c.total).toEqual({ virtualMachines: 2, cpus: 3, memory: 128 * 2 ** 20, storage: 0 });
    expect([...c.perDriver.keys()]).toEqual(["docker"]);
  });

  const cases: Record<string, { vm: ReturnType<typeof owned>; member: string | undefined }> = {
    "a member's VM is charged through its VApp": { vm: owned("shop-web", 1), member: "web" },
    "a VM bigger than its member counts on its own": { vm: owned("shop-web", 4), member: undefined },
    "a VM naming another VApp's uid counts on its own": { vm: owned("shop-web", 1, "forged"), member: undefined },
    "a VM named for no member counts on its own": { vm: owned("shop-cache", 1), member: undefined },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => expect(chargedThrough(c.vm as never, vapp as never)).toBe(c.member));
  }

  it("disks count their sizes; quantities read back as written", () => {
    expect(machineUsage({ cpus: 1, memory: "1Gi", disks: [{ size: "10Gi" }, {}] }).storage).toBe(10 * 2 ** 30);
    expect([formatBytes(1536 * 2 ** 20), formatBytes(2 ** 40), formatBytes(0), formatBytes(1000)]).toEqual(["1536Mi", "1Ti", "0", "1000"]);
  });
});
