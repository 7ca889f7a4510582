import { describe, expect, it } from "vitest";
import type { VmSpec } from "../contract/index.ts";
import { bootOrderSpec, createSpec, diskSlots } from "./vm-config.ts";

const identity = { uid: "6d0b042a-26de-4bbe-ab41-537b69930731", name: "t.web", kubeName: "web" };
const where = { datastore: "datastore1", networks: new Map([["VM Network", { type: "Network", value: "network-7" }]]), copies: new Map<string, string>() };
const spec = (over: Partial<VmSpec>): VmSpec => ({ cpus: 1, memoryMiB: 64, disks: [], ...over });
type Change = { device: { $type: string; key: number; controllerKey?: number; unitNumber?: number; addressType?: string; macAddress?: string } };

describe("ESXi VM config", () => {
  it("puts each disk on its bus's controller (virtio: pvscsi), skipping SCSI unit 7, and adds only the controllers used", () => {
    const disks = Array.from({ length: 9 }, (_, i) => ({ name: `d${i}`, sizeGiB: 1 }));
    expect(diskSlots(spec({ disks })).map((s) => s.unitNumber)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9]);
    const config = createSpec(identity, spec({ disks: [{ name: "a", sizeGiB: 1, bus: "sata" }, { name: "b", sizeGiB: 1, bus: "ide" }, { name: "c", sizeGiB: 1 }] }), where) as { deviceChange: Change[] };
    const devices = config.deviceChange.map((c) => c.device);
    expect(devices.filter((d) => d.$type.endsWith("Controller")).map((d) => d.$type).sort()).toEqual(["ParaVirtualSCSIController", "VirtualAHCIController"]);
    expect(devices.filter((d) => d.$type === "VirtualDisk").map((d) => [d.controllerKey, d.unitNumber])).toEqual([[-102, 0], [200, 0], [-100, 0]]);
  });

  it("gives NICs their device type (virtio: vmxnet3) and a fixed MAC as manual; refuses a model ESXi has not", () => {
    const config = createSpec(identity, spec({ networks: [{ name: "a", model: "e1000", macAddress: "00:50:56:00:00:01" }, { name: "b" }] }), where) as { deviceChange: Change[] };
    expect(config.deviceChange.map((c) => [c.device.$type, c.device.addressType, c.device.macAddress])).toEqual([["VirtualE1000", "manual", "00:50:56:00:00:01"], ["VirtualVmxnet3", "generated", undefined]]);
    expect(() => createSpec(identity, spec({ networks: [{ name: "x", model: "netfront" }] }), where)).toThrow(/no netfront NIC/);
  });

  it("hands cloud-init data to the VMware datasource as base64 guestinfo", () => {
    const config = createSpec(identity, spec({ cloudInit: { userData: "#cloud-config\n" } }), where) as { extraConfig: { key: string; value: { $text: string } }[] };
    const extra = new Map(config.extraConfig.map((o) => [o.key, o.value.$text]));
    expect(Buffer.from(extra.get("guestinfo.userdata")!, "base64").toString()).toBe("#cloud-config\n");
    expect(extra.get("guestinfo.userdata.encoding")).toBe("base64");
    expect(Buffer.from(extra.get("guestinfo.metadata")!, "base64").toString()).toBe(`instance-id: ${identity.uid}\nlocal-hostname: web\n`);
  });

  it("sets the boot order from the keys ESX gave the disks, lowest first", () => {
    const s = spec({ disks: [{ name: "a", sizeGiB: 1, bootOrder: 2 }, { name: "b", sizeGiB: 1, bus: "sata", bootOrder: 1 }, { name: "c", sizeGiB: 1 }] });
    const devices = [
      { type: "ParaVirtualSCSIController", key: 1000, busNumber: 0 },
      { type: "VirtualAHCIController", key: 15000, busNumber: 0 },
      { type: "VirtualDisk", key: 2000, controllerKey: 1000, unitNumber: 0 },
      { type: "VirtualDisk", key: 2001, controllerKey: 1000, unitNumber: 1 },
      { type: "VirtualDisk", key: 16000, controllerKey: 15000, unitNumber: 0 },
    ];
    expect(bootOrderSpec(s, devices)).toEqual({ bootOrder: [{ $type: "VirtualMachineBootOptionsBootableDiskDevice", deviceKey: 16000 }, { $type: "VirtualMachineBootOptionsBootableDiskDevice", deviceKey: 2000 }] });
    expect(bootOrderSpec(spec({ disks: [{ name: "a", sizeGiB: 1 }] }), devices)).toBeUndefined();
  });
});
