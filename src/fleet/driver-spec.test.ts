import { describe, expect, it } from "vitest";
import type { DatacenterObject, VmObject } from "./kinds.ts";
import { driverSpec } from "./driver-spec.ts";

const vm = (spec: Partial<VmObject["spec"]>): VmObject => ({ metadata: { name: "v", namespace: "t" }, spec: { powerState: "Running", cpus: 2, memory: "1Gi", ...spec } }) as VmObject;

describe("driver spec", () => {
  it("sizes in MiB / GiB, networks through the datacenter's per-driver names, created running", () => {
    const dc = { metadata: { name: "dc" }, spec: { networks: [{ name: "prod", bridges: { docker: "prod-net" } }] } } as unknown as DatacenterObject;
    const spec = driverSpec(vm({ disks: [{ name: "root", image: "busybox:local", bus: "virtio" }, { name: "data", size: "20Gi", bus: "virtio" }], networks: [{ name: "eth0", network: "prod", model: "virtio" }] }), "docker", { datacenter: dc });
    expect(spec).toMatchObject({ cpus: 2, memoryMiB: 1024, disks: [{ name: "root", image: "busybox:local" }, { name: "data", sizeGiB: 20 }], networks: [{ name: "eth0", network: "prod-net" }], power: { state: "Running" } });
  });

  it("disk bus and boot order, NIC model and MAC, and cloud-init data reach the driver as written", () => {
    const spec = driverSpec(
      vm({ disks: [{ name: "root", size: "1Gi", bus: "sata", bootOrder: 2 }], networks: [{ name: "eth0", network: "prod", model: "e1000", macAddress: "52:54:00:00:00:01" }] }),
      "libvirt",
      { cloudInit: { userData: "#cloud-config\n", networkConfig: "version: 2\n" } },
    );
    expect(spec.disks).toEqual([{ name: "root", sizeGiB: 1, bus: "sata", bootOrder: 2 }]);
    expect(spec.networks).toEqual([{ name: "eth0", network: "prod", model: "e1000", macAddress: "52:54:00:00:00:01" }]);
    expect(spec.cloudInit).toEqual({ userData: "#cloud-config\n", networkConfig: "version: 2\n" });
  });

  it("a VM that should be Stopped is created stopped; Paused is created running (paused next)", () => {
    expect(driverSpec(vm({ powerState: "Stopped", powerOff: { mode: "Hard", timeoutSeconds: 5 } }), "libvirt").power).toEqual({ state: "Stopped", mode: "Hard", deadlineSeconds: 5 });
    expect(driverSpec(vm({ powerState: "Paused" }), "libvirt").power).toEqual({ state: "Running" });
    expect(driverSpec(vm({}), "libvirt").networks).toBeUndefined();
  });

  it("a catalog image becomes the driver's source; a name not in the catalog passes as written; a missing source is a terminal error naming the field", () => {
    const dc = { metadata: { name: "dc" }, spec: { images: [{ name: "tiny", sources: { libvirt: "tiny-vm", docker: "busybox:local" } }] } } as unknown as DatacenterObject;
    const disks = [{ name: "root", image: "tiny", bus: "virtio" as const }];
    expect(driverSpec(vm({ disks }), "libvirt", { datacenter: dc }).disks).toEqual([{ name: "root", image: "tiny-vm", bus: "virtio" }]);
    expect(driverSpec(vm({ disks }), "docker", { datacenter: dc }).disks).toEqual([{ name: "root", image: "busybox:local", bus: "virtio" }]);
    expect(driverSpec(vm({ disks: [{ name: "root", image: "alpine:3", bus: "virtio" }] }), "docker", { datacenter: dc }).disks).toEqual([{ name: "root", image: "alpine:3", bus: "virtio" }]);
    expect(() => driverSpec(vm({ disks }), "esxi", { datacenter: dc })).toThrow(/image tiny of datacenter dc has no esxi source \(spec.images\[\].sources.esxi\)/);
  });

  it("an image outside the catalog that names a path is refused unless the datacenter allows raw paths; Docker references always pass", () => {
    const dc = (allowRawPaths?: boolean) => ({ metadata: { name: "east" }, spec: { imageStore: { location: "/srv", ...(allowRawPaths !== undefined ? { allowRawPaths } : {}) } } }) as unknown as DatacenterObject;
    const disk = (image: string) => ({ disks: [{ name: "root", image }] });
    const refused = [
      ["esxi", "[datastore1] other-vm/other-vm.vmdk", /is a datastore path outside the image catalog of datacenter east/],
      ["libvirt", "other-pool/secret", /is a path outside/],
      ["libvirt", "0b7e6f1c-4a1e-4c59-9f33-3c1b2e4d5a6f-root", /is a VM disk's volume name/],
      ["hyperv", "C:\\VMs\\other.vhdx", /is a path/],
      ["xenserver", "../etc/passwd", /is a path/],
    ] as const;
    for (const [driver, image, why] of refused) {
      expect(() => driverSpec(vm(disk(image)), driver, { datacenter: dc() }), `${driver} ${image}`).toThrow(why);
      expect(() => driverSpec(vm(disk(image)), driver, { datacenter: dc(false) })).toThrow(/spec.imageStore.allowRawPaths/);
      expect(driverSpec(vm(disk(image)), driver, { datacenter: dc(true) }).disks).toEqual([{ name: "root", image }]);
    }
    expect(driverSpec(vm(disk("tiny-vm")), "libvirt", { datacenter: dc() }).disks).toEqual([{ name: "root", image: "tiny-vm" }]);
    expect(driverSpec(vm(disk("registry.example.com/team/app@sha256:abc")), "docker", { datacenter: dc() }).disks).toEqual([{ name: "root", image: "registry.example.com/team/app@sha256:abc" }]);
    expect(() => driverSpec(vm(disk("[ds] x.vmdk")), "esxi")).toThrow(/the host's datacenter/);
  });
});
