// libvirt's RPC wire format (src/rpc/virnetprotocol.x): every packet is a 4-byte total length,
// a 24-byte header, then an XDR payload whose shape depends on program, procedure, type and status.
import { XdrReader, XdrWriter } from "./xdr.ts";

/** The remote program (src/remote/remote_protocol.x). */
export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
/** The keepalive program ("keep" in ASCII): PING and PONG, sent as asynchronous messages. */
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** Largest packet libvirt accepts (VIR_NET_MESSAGE_MAX plus the length word). */
export const MESSAGE_MAX = 16777216 + 4;
export const HEADER_SIZE = 24;

/** virNetMessageType */
export const MessageType = { Call: 0, Reply: 1, Message: 2, Stream: 3, CallWithFds: 4, ReplyWithFds: 5 } as const;
/** virNetMessageStatus */
export const MessageStatus = { Ok: 0, Error: 1, Continue: 2 } as const;

export interface MessageHeader {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
}

/** One whole packet: the header and a reader positioned at the payload. */
export interface Packet {
  header: MessageHeader;
  body: XdrReader;
}

/** Frames a header plus payload into one packet (length word included). */
export function encodePacket(header: MessageHeader, payload?: Uint8Array): Buffer {
  const w = new XdrWriter(HEADER_SIZE + 4 + (payload?.length ?? 0));
  w.uint(0); // length, patched below
  w.uint(header.prog).uint(header.vers).int(header.proc).int(header.type).uint(header.serial).int(header.status);
  if (payload) w.fixedOpaque(payload);
  const out = w.bytes();
  out.writeUInt32BE(out.length, 0);
  return out;
}

export function decodePacket(packet: Buffer): Packet {
  const r = new XdrReader(packet, 4);
  const header: MessageHeader = {
    prog: r.uint(),
    vers: r.uint(),
    proc: r.int(),
    type: r.int(),
    serial: r.uint(),
    status: r.int(),
  };
  return { header, body: r };
}

/**
 * Splits a byte stream into packets. Data arrives in arbitrary chunks; a packet is complete when
 * as many bytes as its length word says have arrived.
 */
export class PacketSplitter {
  private pending: Buffer[] = [];
  private pendingLen = 0;

  /** Feeds a chunk; returns every packet it completes. Throws on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    const out: Buffer[] = [];
    while (this.pendingLen >= 4) {
      const head = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
      this.pending = [head];
      const len = head.readUInt32BE(0);
      if (len < 4 + HEADER_SIZE || len > MESSAGE_MAX) throw new Error(`libvirt RPC: invalid packet length ${len}`);
      if (this.pendingLen < len) break;
      out.push(head.subarray(0, len));
      const rest = head.subarray(len);
      this.pending = rest.length ? [rest] : [];
      this.pendingLen = rest.length;
    }
    return out;
  }
}

/** virNetMessageError / remote_error: the error a failed call or stream carries. */
export interface RemoteError {
  code: number;
  domain: number;
  message: string;
  level: number;
  str1?: string | undefined;
  str2?: string | undefined;
  str3?: string | undefined;
  int1: number;
  int2: number;
}

export function readRemoteError(r: XdrReader): RemoteError {
  const code = r.int();
  const domain = r.int();
  const message = r.optionalString() ?? "";
  const level = r.int();
  r.optional(readDomainRef); // dom: unused by servers, still on the wire
  const str1 = r.optionalString();
  const str2 = r.optionalString();
  const str3 = r.optionalString();
  const int1 = r.int();
  const int2 = r.int();
  r.optional((x) => ({ name: x.string(), uuid: x.fixedOpaque(16) })); // net: unused
  return { code, domain, message, level, str1, str2, str3, int1, int2 };
}

/** remote_nonnull_domain: how the protocol names a domain in calls and replies. */
export interface DomainRef {
  name: string;
  /** 16 raw bytes */
  uuid: Buffer;
  /** -1 when the domain is not running */
  id: number;
}

export function readDomainRef(r: XdrReader): DomainRef {
  return { name: r.string(), uuid: r.fixedOpaque(16), id: r.int() };
}

export function writeDomainRef(w: XdrWriter, d: DomainRef): void {
  w.string(d.name).fixedOpaque(d.uuid).int(d.id);
}

export function uuidToString(uuid: Uint8Array): string {
  const h = Buffer.from(uuid).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function uuidFromString(s: string): Buffer {
  const hex = s.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${s}`);
  return Buffer.from(hex, "hex");
}

/** remote_nonnull_storage_pool: a storage pool by name and UUID. */
export interface StoragePoolRef {
  name: string;
  /** 16 raw bytes */
  uuid: Buffer;
}

export function readStoragePoolRef(r: XdrReader): StoragePoolRef {
  return { name: r.string(), uuid: r.fixedOpaque(16) };
}

export function writeStoragePoolRef(w: XdrWriter, p: StoragePoolRef): void {
  w.string(p.name).fixedOpaque(p.uuid);
}

/** remote_nonnull_storage_vol: a volume by its pool's name, its own name and its key (a path for dir pools). */
export interface StorageVolRef {
  pool: string;
  name: string;
  key: string;
}

export function readStorageVolRef(r: XdrReader): StorageVolRef {
  return { pool: r.string(), name: r.string(), key: r.string() };
}

export function writeStorageVolRef(w: XdrWriter, v: StorageVolRef): void {
  w.string(v.pool).string(v.name).string(v.key);
}

/**
 * Largest data payload of one stream packet. libvirt's own client sends at most the legacy
 * payload size (256 KiB less the header), which every daemon version accepts.
 */
export const STREAM_CHUNK_MAX = 262120;

/**
 * One packet of an RPC stream: same program and procedure as the call that opened it, and its
 * serial. Its data is raw bytes, not XDR: no length word and no padding (the daemon takes the
 * whole rest of the packet as data, so padding would be written into the volume).
 */
export function encodeStreamPacket(proc: number, serial: number, status: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const head = encodePacket({ prog: REMOTE_PROGRAM, vers: REMOTE_PROTOCOL_VERSION, proc, type: MessageType.Stream, serial, status });
  const out = Buffer.concat([head, data]);
  out.writeUInt32BE(out.length, 0);
  return out;
}
