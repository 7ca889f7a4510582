import { describe, expect, it } from "vitest";
import { cannotMove } from "./steps.ts";

describe("which moves a driver can make", () => {
  it("libvirt, XenServer and Hyper-V hosts that offer migration move live and cold", () => {
    for (const driver of ["libvirt", "xenserver", "hyperv"]) {
      expect(cannotMove(driver, true, "Live")).toBeUndefined();
      expect(cannotMove(driver, true, "Cold")).toBeUndefined();
    }
  });
  it("a libvirt connection without migration (libvirt's test driver) moves nothing, and says so", () => {
    expect(cannotMove("libvirt", false, "Cold")).toEqual({ reason: "MigrationUnsupported", message: expect.stringContaining("cannot migrate") as unknown });
  });
  it("Docker refuses a live move and points to the cold one, which makes the container again", () => {
    expect(cannotMove("docker", false, "Live")?.reason).toBe("LiveMigrationUnsupported");
    expect(cannotMove("docker", false, "Live")?.message).toContain("spec.live: false");
    expect(cannotMove("docker", false, "Cold")).toBeUndefined();
  });
  it("a standalone ESXi host moves nothing without vCenter", () => {
    expect(cannotMove("esxi", false, "Live")?.message).toContain("no vMotion");
    expect(cannotMove("esxi", false, "Cold")?.reason).toBe("ColdMoveUnsupported");
  });
});
