import { describe, expect, it } from "vitest";
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";
import { adoptionRefused, orphanUid } from "./adoption.ts";

const host = (spec: Partial<HostObject["spec"]> = {}, orphans: { externalId: string; uid?: string }[] = []): HostObject =>
  ({
    metadata: { name: "kvm1" },
    spec: { datacenter: "east", pool: "gold", driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1, ...spec },
    status: { orphanedVms: orphans },
  });

const vm = (placement?: VmObject["spec"]["placement"], namespace = "team-a"): VmObject =>
  ({ metadata: { name: "legacy", namespace, uid: "u-new" }, spec: { powerState: "Running", adopt: { host: "kvm1", externalId: "ext-1" }, ...(placement ? { placement } : {}) } }) as VmObject;

describe("adoption", () => {
  it("is refused unless the Host lists the VM's namespace (default none)", () => {
    expect(adoptionRefused(vm(), host())).toMatch(/does not allow namespace team-a to adopt/);
    expect(adoptionRefused(vm(), host({ adoption: { namespaces: ["team-b"] } }))).toMatch(/spec\.adoption\.namespaces/);
    expect(adoptionRefused(vm(), host({ adoption: { namespaces: ["team-a"] } }))).toBeUndefined();
    expect(adoptionRefused(vm(), undefined)).toBe("host kvm1 does not exist");
  });

  it("honours the VM's placement scope", () => {
    const allowed = { adoption: { namespaces: ["team-a"] } };
    expect(adoptionRefused(vm({ datacenter: "west" }), host(allowed))).toMatch(/outside spec\.placement\.datacenter west/);
    expect(adoptionRefused(vm({ pool: "silver" }), host(allowed))).toMatch(/outside spec\.placement\.pool silver/);
    expect(adoptionRefused(vm({ hosts: ["kvm2"] }), host(allowed))).toMatch(/not in spec\.placement\.hosts/);
    expect(adoptionRefused(vm({ driver: "esxi" }), host(allowed))).toMatch(/runs libvirt, not spec\.placement\.driver esxi/);
    expect(adoptionRefused(vm({ datacenter: "east", pool: "gold", hosts: ["kvm1"], driver: "libvirt" }), host(allowed))).toBeUndefined();
  });

  it("names an orphan's uid only when no VirtualMachine has it", () => {
    const h = host({}, [{ externalId: "ext-1", uid: "u-old" }]);
    expect(orphanUid(vm(), h, () => false)).toBe("u-old");
    expect(orphanUid(vm(), h, (uid) => uid === "u-old")).toBeUndefined(); // its VirtualMachine exists: another tenant's
    expect(orphanUid(vm(), host(), () => false)).toBeUndefined();
  });
});
