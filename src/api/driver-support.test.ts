import { describe, expect, it } from "vitest";
import { driverSupportRules, unsupported } from "./driver-support.ts";

describe("what each driver can do with a VM's devices and cloud-init", () => {
  const cases: { reason: string; spec: Parameters<typeof unsupported>[0]; driver: Parameters<typeof unsupported>[1]; want: RegExp[] }[] = [
    { reason: "libvirt takes every bus, a boot order, e1000 and a MAC", spec: { disks: [{ name: "a", bus: "ide", bootOrder: 1 }], networks: [{ name: "n", model: "e1000", macAddress: "52:54:00:00:00:01" }], cloudInit: {} }, driver: "libvirt", want: [] },
    { reason: "Docker runs no cloud-init", spec: { cloudInit: {} }, driver: "docker", want: [/^cloudInit: docker cannot/] },
    { reason: "Docker: the default bus and model are fine, a boot order is not", spec: { disks: [{ name: "root", bus: "virtio", bootOrder: 1 }], networks: [{ name: "n", model: "virtio", macAddress: "02:42:ac:11:00:02" }] }, driver: "docker", want: [/^disks\[root\]\.bootOrder: docker cannot/] },
    { reason: "Hyper-V generation 2 has no SATA", spec: { disks: [{ name: "d", bus: "sata" }] }, driver: "hyperv", want: [/^disks\[d\]\.bus sata: hyperv cannot \(.*SCSI/] },
    { reason: "XenServer has no bus to choose, no e1000", spec: { disks: [{ name: "d", bus: "scsi" }], networks: [{ name: "n", model: "e1000" }] }, driver: "xenserver", want: [/^disks\[d\]\.bus scsi: xenserver/, /^networks\[n\]\.model e1000: xenserver/] },
    { reason: "ESXi has no netfront", spec: { networks: [{ name: "n", model: "netfront" }] }, driver: "esxi", want: [/^networks\[n\]\.model netfront: esxi cannot/] },
  ];
  it.each(cases)("$reason", ({ spec, driver, want }) => {
    const got = unsupported(spec, driver);
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatch(w));
  });

  it("gives the API server one CEL rule per driver and field it cannot fully do, each naming the field and the driver", () => {
    const rules = driverSupportRules();
    expect(rules.find((r) => r.fieldPath === ".cloudInit")?.rule).toBe("!(has(self.placement) && has(self.placement.driver) && self.placement.driver == 'docker') || !has(self.cloudInit)");
    for (const r of rules) expect(r.message).toMatch(/^(disks\[\]\.bus|disks\[\]\.bootOrder|networks\[\]\.model|networks\[\]\.macAddress|cloudInit): the (libvirt|esxi|xenserver|hyperv|docker) driver/);
    expect(rules.filter((r) => r.message.includes("the libvirt driver")).map((r) => r.fieldPath)).toEqual([".networks"]);
  });
});
