// The names and XML the driver gives libvirt for volumes: a disk belongs to exactly one VM by its
// uid, an image reference is a plain name or pool/name, and nothing a user writes can escape the
// XML or name a path.
import { describe, expect, it } from "vitest";
import { TerminalError } from "../contract/index.ts";
import { dirPoolXml, diskVolumeName, diskVolumeXml, parseImageRef } from "./volumes.ts";

describe("volume names", () => {
  const uid = "0b6f1c1e-8d3f-4a55-9b0e-3f1f6c1d2e3a";
  it.each([
    ["a disk is named by the VM's uid and the disk's name", uid, "root", `${uid}-root.qcow2`],
    ["dots, dashes and underscores are kept", uid, "data_1.b-c", `${uid}-data_1.b-c.qcow2`],
  ])("%s", (_, u, disk, want) => expect(diskVolumeName(u, disk)).toBe(want));

  it.each([
    ["a slash in the disk name", uid, "../x"],
    ["an empty disk name", uid, ""],
    ["a uid with a slash", "a/b", "root"],
  ])("refuses %s (terminal: the spec must change)", (_, u, disk) => expect(() => diskVolumeName(u, disk)).toThrow(TerminalError));
});

describe("image references", () => {
  it.each([
    ["tiny-vm", { name: "tiny-vm" }],
    ["images/debian-12", { pool: "images", name: "debian-12" }],
  ])("%s", (ref, want) => expect(parseImageRef(ref)).toEqual(want));

  it.each(["/var/lib/images/x", "a/b/c", "pool/", "../x", "x y"])("refuses %s", (ref) => expect(() => parseImageRef(ref)).toThrow(TerminalError));
});

describe("volume XML", () => {
  it("an overlay is qcow2 with the image volume's path as its backing store", () => {
    const xml = diskVolumeXml("u-root.qcow2", 2n ** 30n, "/var/lib/libvirt/omnivisor/tiny-vm.qcow2");
    expect(xml).toContain(`<capacity unit="bytes">1073741824</capacity>`);
    expect(xml).toContain(`<target><format type="qcow2"/></target>`);
    expect(xml).toContain(`<backingStore><path>/var/lib/libvirt/omnivisor/tiny-vm.qcow2</path><format type="qcow2"/></backingStore>`);
  });

  it("a blank disk has no backing store; names are escaped", () => {
    expect(diskVolumeXml("u-<x>.qcow2", 1n)).not.toContain("backingStore");
    expect(diskVolumeXml("u-<x>.qcow2", 1n)).toContain("<name>u-&lt;x&gt;.qcow2</name>");
    expect(dirPoolXml("omnivisor", "/var/lib/libvirt/omnivisor")).toBe(`<pool type="dir"><name>omnivisor</name><target><path>/var/lib/libvirt/omnivisor</path></target></pool>`);
  });
});
