import { describe, expect, it } from "vitest";
import { domainXml, parseDomainXml, parseIdentityMetadata } from "./domain-xml.ts";
import { eventType } from "./events.ts";
import { powerOf } from "./observe.ts";

const identity = { uid: "6d0b042a-26de-4bbe-ab41-537b69930731", name: "team-a.web", namespace: "team-a", kubeName: "web<1>" };

describe("domain XML", () => {
  it("carries the spec and the identity, and reads both back", () => {
    const xml = domainXml({
      identity,
      virtType: "qemu",
      cpus: 2,
      memoryMiB: 256,
      uuid: identity.uid,
      kernel: { path: "/img/vmlinuz", initrd: "/img/initrd.img", cmdline: "console=ttyS0" },
      disks: [{ path: "/d/team-a.web-root.qcow2", format: "qcow2" }],
      nics: [{ kind: "network", network: "default" }, { kind: "bridge", bridge: "br0" }],
      consoleLog: "/d/team-a.web.console.log",
    });
    expect(xml).toContain(`<domain type="qemu">`);
    expect(xml).toContain("<kernel>/img/vmlinuz</kernel>");
    expect(xml).toContain(`<source bridge="br0"/>`);
    const facts = parseDomainXml(xml);
    expect(facts).toMatchObject({ name: "team-a.web", uuid: identity.uid, cpus: 2, memoryMiB: 256, diskFiles: ["/d/team-a.web-root.qcow2"], bootFiles: ["/img/vmlinuz", "/img/initrd.img"], consoleLog: "/d/team-a.web.console.log" });
    expect(facts.meta).toEqual({ uid: identity.uid, namespace: "team-a", name: "web<1>" });
  });

  it("gives each disk its bus (target names counted per prefix) and boot order, NICs their model and MAC, and the seed a read-only SATA CD-ROM", () => {
    const xml = domainXml({
      identity,
      virtType: "kvm",
      cpus: 1,
      memoryMiB: 64,
      disks: [
        { path: "/p/root.qcow2", format: "qcow2", bus: "scsi", bootOrder: 2 },
        { path: "/p/data.qcow2", format: "qcow2", bus: "sata", bootOrder: 1 },
        { path: "/p/old.qcow2", format: "qcow2", bus: "ide" },
        { path: "/p/fast.qcow2", format: "qcow2" },
        { path: "/p/u-cidata.iso", format: "raw", bus: "sata", cdrom: true },
      ],
      nics: [{ kind: "network", network: "default", model: "e1000", mac: "52:54:00:00:00:10" }, { kind: "bridge", bridge: "br0" }],
    });
    // per-device boot order: libvirt refuses it beside <os><boot dev=…>
    expect(xml).not.toContain("<boot dev=");
    const facts = parseDomainXml(xml);
    expect(facts.disks).toEqual([
      { device: "disk", bus: "scsi", bootOrder: 2, file: "/p/root.qcow2" },
      { device: "disk", bus: "sata", bootOrder: 1, file: "/p/data.qcow2" },
      { device: "disk", bus: "ide", file: "/p/old.qcow2" },
      { device: "disk", bus: "virtio", file: "/p/fast.qcow2" },
      { device: "cdrom", bus: "sata", file: "/p/u-cidata.iso" },
    ]);
    expect([...xml.matchAll(/<target dev="(\w+)"/g)].map((m) => m[1])).toEqual(["sda", "sdb", "hda", "vda", "sdc"]);
    expect(xml).toMatch(/device="cdrom">.*<readonly\/>/);
    expect(facts.nics).toEqual([{ model: "e1000", mac: "52:54:00:00:00:10" }, { model: "virtio" }]);
    expect(domainXml({ identity, virtType: "kvm", cpus: 1, memoryMiB: 64, disks: [{ path: "/p/r", format: "qcow2" }], nics: [] })).toContain(`<boot dev="hd"/>`);
  });

  it("reads the metadata element however libvirt re-prefixes it, and memory in KiB", () => {
    const dumped = `<domain type='kvm'><name>x</name><uuid>u</uuid><metadata><other:x xmlns:other="urn:o"><other:uid>nope</other:uid></other:x><omnivisor:vm xmlns:omnivisor="https://omnivisor.io/xmlns/libvirt/vm/1"><omnivisor:uid>abc</omnivisor:uid></omnivisor:vm></metadata><memory unit='KiB'>131072</memory><currentMemory unit='KiB'>131072</currentMemory><vcpu placement='static'>1</vcpu></domain>`;
    expect(parseDomainXml(dumped)).toMatchObject({ memoryMiB: 128, cpus: 1, meta: { uid: "abc" } });
    expect(parseIdentityMetadata(`<vm xmlns="https://omnivisor.io/xmlns/libvirt/vm/1"><uid>u1</uid></vm>`)).toEqual({ uid: "u1" });
    expect(parseDomainXml(`<domain><name>plain</name></domain>`).meta).toBeUndefined();
  });
});

describe("states and events", () => {
  it.each([
    [1, 0, "Running"],
    [3, 1, "Paused"],
    [5, 1, "Stopped"],
    [5, 3, "Crashed"],
    [6, 0, "Crashed"],
    [0, 0, "Unknown"],
  ])("state %i reason %i is %s", (state, reason, want) => {
    expect(powerOf(state, reason)).toBe(want);
  });

  it.each([
    [0, 0, "defined"],
    [1, 0, "deleted"],
    [2, 0, "started"],
    [3, 0, "paused"],
    [3, 1, undefined], // paused for a migration's switch-over: not reported as the VM's state
    [3, 7, undefined],
    [4, 0, "resumed"],
    [5, 1, "stopped"],
    [5, 2, "crashed"],
    [5, 3, "migrated"],
    [6, 0, undefined],
  ])("lifecycle event %i detail %i is %s", (event, detail, want) => {
    expect(eventType(event, detail)).toBe(want);
  });
});
