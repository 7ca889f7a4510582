import { describe, expect, it } from "vitest";
import {
  PacketSplitter,
  decodePacket,
  encodePacket,
  encodeStreamPacket,
  readRemoteError,
  readStoragePoolRef,
  readStorageVolRef,
  uuidFromString,
  uuidToString,
  writeStoragePoolRef,
  writeStorageVolRef,
  MessageType,
  MessageStatus,
  REMOTE_PROGRAM,
} from "./protocol.ts";
import { XdrReader, XdrWriter } from "./xdr.ts";
import { readTypedParam, writeTypedParam } from "./typed-params.ts";
import { parseLibvirtUri } from "./uri.ts";

describe("XDR", () => {
  it("round-trips every primitive with 4-byte alignment", () => {
    const w = new XdrWriter(4); // tiny on purpose: forces the buffer to grow mid-write
    w.int(-5).uint(0xfffffffe).hyper(-(2n ** 40n)).uhyper(2n ** 63n).double(1.5).bool(true).string("héllo").optionalString(undefined).optionalString("x").opaque(Buffer.from([1, 2, 3]));
    w.array([1, 2, 3], (x, v) => x.int(v));
    const bytes = w.bytes();
    expect(bytes.length % 4).toBe(0);
    const r = new XdrReader(bytes);
    expect([r.int(), r.uint(), r.hyper(), r.uhyper(), r.double(), r.bool(), r.string(), r.optionalString(), r.optionalString()]).toEqual([-5, 0xfffffffe, -(2n ** 40n), 2n ** 63n, 1.5, true, "héllo", undefined, "x"]);
    expect([...r.opaque()]).toEqual([1, 2, 3]);
    expect(r.array((x) => x.int())).toEqual([1, 2, 3]);
    expect(r.remaining).toBe(0);
  });

  it("rejects truncated data and oversized arrays instead of reading garbage", () => {
    expect(() => new XdrReader(Buffer.from([0, 0, 0])).int()).toThrow(/truncated/);
    const w = new XdrWriter().uint(10);
    expect(() => new XdrReader(w.bytes()).array((x) => x.int(), 5)).toThrow(/exceeds/);
  });

  it("encodes typed parameters as the discriminated union libvirt expects", () => {
    const w = new XdrWriter();
    writeTypedParam(w, { field: "migrate_uri", value: "tcp://10.0.0.2" });
    writeTypedParam(w, { field: "bandwidth", value: 100n });
    const r = new XdrReader(w.bytes());
    expect(readTypedParam(r)).toEqual({ field: "migrate_uri", type: 7, value: "tcp://10.0.0.2" });
    expect(readTypedParam(r)).toEqual({ field: "bandwidth", type: 4, value: 100n });
  });
});

describe("packets", () => {
  it("frames a call with its length and header, and splits a stream cut at any byte", () => {
    const payload = new XdrWriter().string("qemu:///system").bytes();
    const a = encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: 1, type: MessageType.Call, serial: 7, status: MessageStatus.Ok }, payload);
    const b = encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: 2, type: MessageType.Call, serial: 8, status: MessageStatus.Ok });
    expect(a.readUInt32BE(0)).toBe(a.length);
    const stream = Buffer.concat([a, b]);
    for (let cut = 1; cut < stream.length; cut++) {
      const splitter = new PacketSplitter();
      const packets = [...splitter.push(stream.subarray(0, cut)), ...splitter.push(stream.subarray(cut))];
      expect(packets.map((p) => decodePacket(p).header.serial)).toEqual([7, 8]);
    }
    expect(decodePacket(a).body.string()).toBe("qemu:///system");
  });

  it("refuses a packet length no daemon can send", () => {
    expect(() => new PacketSplitter().push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/invalid packet length/);
  });

  it("reads remote_error with its optional fields", () => {
    const w = new XdrWriter().int(42).int(10).optionalString("Domain not found").int(2);
    w.bool(false).optionalString("x").optionalString(undefined).optionalString(undefined).int(0).int(0).bool(false);
    expect(readRemoteError(new XdrReader(w.bytes()))).toMatchObject({ code: 42, domain: 10, message: "Domain not found", str1: "x" });
  });

  it("converts UUIDs between text and the 16 wire bytes", () => {
    const id = "6d0b042a-26de-4bbe-ab41-537b69930731";
    expect(uuidToString(uuidFromString(id))).toBe(id);
  });
});

describe("libvirt URIs", () => {
  const cases: Record<string, [string, ReturnType<typeof parseLibvirtUri>]> = {
    "local system": ["qemu:///system", { driver: "qemu", transport: { kind: "unix", path: "/run/libvirt/libvirt-sock" }, name: "qemu:///system" }],
    "test driver on a given socket": [
      "test+unix:///default?socket=/run/x/libvirt-sock",
      { driver: "test", transport: { kind: "unix", path: "/run/x/libvirt-sock" }, name: "test:///default" },
    ],
    "simulated host from a node file": [
      "test+unix:///tmp/h1/node.xml?socket=/s",
      { driver: "test", transport: { kind: "unix", path: "/s" }, name: "test:///tmp/h1/node.xml" },
    ],
    "remote over TCP": ["qemu+tcp://10.99.0.2/system", { driver: "qemu", transport: { kind: "tcp", host: "10.99.0.2", port: 16509 }, name: "qemu:///system" }],
    "remote over TLS by default": ["qemu://host.example:1234/system", { driver: "qemu", transport: { kind: "tls", host: "host.example", port: 1234 }, name: "qemu:///system" }],
  };
  it.each(Object.entries(cases))("%s", (_, [uri, want]) => {
    expect(parseLibvirtUri(uri)).toEqual(want);
  });

  it("refuses transports it cannot speak", () => {
    expect(() => parseLibvirtUri("qemu+ssh://h/system")).toThrow(/not supported/);
  });
});

describe("storage references and stream packets", () => {
  it("encodes a storage pool as name + 16 UUID bytes and a volume as pool, name, key strings", () => {
    const pool = { name: "omnivisor", uuid: uuidFromString("00112233-4455-6677-8899-aabbccddeeff") };
    const vol = { pool: "omnivisor", name: "tiny-vm.qcow2", key: "/var/lib/libvirt/omnivisor/tiny-vm.qcow2" };
    const w = new XdrWriter();
    writeStoragePoolRef(w, pool);
    writeStorageVolRef(w, vol);
    const bytes = w.bytes();
    // "omnivisor" is 9 bytes: length word + 12 padded bytes, then the fixed 16-byte UUID
    expect(bytes.readUInt32BE(0)).toBe(9);
    expect(bytes.subarray(16, 32).toString("hex")).toBe("00112233445566778899aabbccddeeff");
    const r = new XdrReader(bytes);
    expect(readStoragePoolRef(r)).toEqual(pool);
    expect(readStorageVolRef(r)).toEqual(vol);
    expect(r.remaining).toBe(0);
  });

  it("frames stream data raw: no length word, no padding, the call's procedure and serial", () => {
    const packet = encodeStreamPacket(208, 41, MessageStatus.Continue, Buffer.from([1, 2, 3, 4, 5]));
    expect(packet.length).toBe(4 + 24 + 5);
    expect(packet.readUInt32BE(0)).toBe(packet.length);
    const { header, body } = decodePacket(packet);
    expect(header).toEqual({ prog: REMOTE_PROGRAM, vers: 1, proc: 208, type: MessageType.Stream, serial: 41, status: MessageStatus.Continue });
    expect([...body.rest()]).toEqual([1, 2, 3, 4, 5]);
    const end = decodePacket(encodeStreamPacket(208, 41, MessageStatus.Ok));
    expect(end.header.status).toBe(MessageStatus.Ok);
    expect(end.body.remaining).toBe(0);
  });
});
