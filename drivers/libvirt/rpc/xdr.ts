// A small XDR (RFC 4506) writer and reader for the handful of types libvirt's remote protocol uses:
// int/unsigned (32 bit), hyper/unsigned hyper (64 bit, as bigint), double, bool, strings,
// fixed and variable opaque, optional ("pointer") values and counted arrays. See ADR 0004 for why
// this is hand-written rather than built from @stellar/js-xdr.

/** Grows a buffer as values are appended; `bytes()` returns exactly what was written. */
export class XdrWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.len += n;
    return at;
  }

  int(v: number): this {
    const at = this.reserve(4); // reserve first: it may replace this.buf
    this.buf.writeInt32BE(v, at);
    return this;
  }

  uint(v: number): this {
    const at = this.reserve(4); // reserve first: it may replace this.buf
    this.buf.writeUInt32BE(v >>> 0, at);
    return this;
  }

  hyper(v: bigint): this {
    const at = this.reserve(8); // reserve first: it may replace this.buf
    this.buf.writeBigInt64BE(v, at);
    return this;
  }

  uhyper(v: bigint): this {
    const at = this.reserve(8); // reserve first: it may replace this.buf
    this.buf.writeBigUInt64BE(v, at);
    return this;
  }

  double(v: number): this {
    const at = this.reserve(8); // reserve first: it may replace this.buf
    this.buf.writeDoubleBE(v, at);
    return this;
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  /** Fixed-length opaque (e.g. a 16-byte UUID): no length word, padded to 4 bytes. */
  fixedOpaque(data: Uint8Array): this {
    const padded = (data.length + 3) & ~3;
    const at = this.reserve(padded);
    this.buf.set(data, at);
    this.buf.fill(0, at + data.length, at + padded);
    return this;
  }

  /** Variable-length opaque: a length word, the bytes, zero padding. */
  opaque(data: Uint8Array): this {
    this.uint(data.length);
    return this.fixedOpaque(data);
  }

  string(s: string): this {
    return this.opaque(Buffer.from(s, "utf8"));
  }

  /** An XDR optional value (`T *`): a boolean "present" word, then the value. */
  optional<T>(v: T | undefined | null, write: (w: this, v: T) => void): this {
    if (v === undefined || v === null) return this.bool(false);
    this.bool(true);
    write(this, v);
    return this;
  }

  optionalString(s: string | undefined | null): this {
    return this.optional(s, (w, v) => w.string(v));
  }

  array<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export class XdrError extends Error {
  override name = "XdrError";
}

/** Reads values in order from a buffer; throws XdrError on truncated or oversized input. */
export class XdrReader {
  private readonly buf: Buffer;
  private pos: number;

  constructor(buf: Buffer, offset = 0) {
    this.buf = buf;
    this.pos = offset;
  }

  private take(n: number): number {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new XdrError(`XDR data truncated: need ${n} bytes at ${this.pos}, have ${this.buf.length - this.pos}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  int(): number {
    return this.buf.readInt32BE(this.take(4));
  }

  uint(): number {
    return this.buf.readUInt32BE(this.take(4));
  }

  hyper(): bigint {
    return this.buf.readBigInt64BE(this.take(8));
  }

  uhyper(): bigint {
    return this.buf.readBigUInt64BE(this.take(8));
  }

  double(): number {
    return this.buf.readDoubleBE(this.take(8));
  }

  bool(): boolean {
    return this.int() !== 0;
  }

  fixedOpaque(n: number): Buffer {
    const at = this.take((n + 3) & ~3);
    return Buffer.from(this.buf.subarray(at, at + n));
  }

  opaque(max = 0x7fffffff): Buffer {
    const n = this.uint();
    if (n > max) throw new XdrError(`XDR opaque of ${n} bytes exceeds its limit of ${max}`);
    return this.fixedOpaque(n);
  }

  string(max?: number): string {
    return this.opaque(max).toString("utf8");
  }

  /** Everything not read yet, as raw bytes (a stream packet's data is not XDR-framed). */
  rest(): Buffer {
    return Buffer.from(this.buf.subarray(this.take(this.remaining)));
  }

  optional<T>(read: (r: this) => T): T | undefined {
    return this.bool() ? read(this) : undefined;
  }

  optionalString(): string | undefined {
    return this.optional((r) => r.string());
  }

  array<T>(read: (r: this) => T, max = 0x7fffffff): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError(`XDR array of ${n} items exceeds its limit of ${max}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }
}
