// One connection to a libvirt daemon: calls matched to replies by serial, asynchronous messages
// (domain events) handed to a listener, upload streams (STORAGE_VOL_UPLOAD: the bytes follow the
// call as STREAM packets carrying its serial), and keepalive in both directions so a daemon that
// vanished without closing the socket (kill -9 behind NAT, a dead host) is noticed.
import type { Socket } from "node:net";
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  PacketSplitter,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  STREAM_CHUNK_MAX,
  decodePacket,
  encodePacket,
  encodeStreamPacket,
  readRemoteError,
  type MessageHeader,
  type RemoteError,
} from "./protocol.ts";
import { XdrWriter, type XdrReader } from "./xdr.ts";

/** The daemon answered a call with an error (a virError: code and domain from virterror.h). */
export class LibvirtCallError extends Error {
  override name = "LibvirtCallError";
  readonly remote: RemoteError;
  readonly proc: number;
  constructor(proc: number, remote: RemoteError) {
    super(remote.message || `libvirt error ${remote.code}`);
    this.remote = remote;
    this.proc = proc;
  }
}

/** The connection to the daemon is gone (closed, reset, keepalive timeout, or closed by us). */
export class ConnectionLostError extends Error {
  override name = "ConnectionLostError";
}

export interface KeepaliveOptions {
  /** Seconds of silence before we ping; 0 disables keepalive. */
  intervalSeconds: number;
  /** Unanswered intervals before the connection is declared dead. */
  count: number;
}

type Pending = { proc: number; resolve: (body: XdrReader) => void; reject: (err: Error) => void };
/** The daemon's side of an open stream: its final OK, or an error, arrives as a STREAM packet. */
type StreamEnd = {
  resolve: () => void;
  reject: (err: Error) => void;
  /** A read stream (download): its data packets, and the daemon's end of data (we answer it with our finish). */
  data?: (chunk: Buffer) => void;
  endOfData?: () => void;
};
export type EventListener = (proc: number, body: XdrReader) => void;

export class RpcClient {
  private readonly socket: Socket;
  private readonly splitter = new PacketSplitter();
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, StreamEnd>();
  private readonly eventListeners = new Set<EventListener>();
  private readonly closeListeners = new Set<(err: Error) => void>();
  private serial = 1;
  private lastReceived = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private closedWith: Error | undefined;

  constructor(socket: Socket, keepalive: KeepaliveOptions = { intervalSeconds: 5, count: 5 }) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.resume(); // the TLS transport pauses the socket after reading libvirtd's verdict byte
    socket.on("error", (err) => this.fail(new ConnectionLostError(`libvirt connection failed: ${err.message}`)));
    socket.on("close", () => this.fail(new ConnectionLostError("libvirt connection closed by the daemon")));
    if (keepalive.intervalSeconds > 0) this.startKeepalive(keepalive);
  }

  /** Calls sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls a procedure of the remote program; resolves with a reader over the reply payload. */
  call(proc: number, args?: (w: XdrWriter) => void): Promise<XdrReader> {
    return this.callWithSerial(this.serial++, proc, args);
  }

  /**
   * Calls a procedure that opens a write stream (STORAGE_VOL_UPLOAD), then sends every byte of
   * `data` as CONTINUE packets with the call's serial, then an empty OK packet, and resolves once
   * the daemon answers OK (it has written everything). A daemon error at any point rejects with
   * LibvirtCallError; if we stop early (our source failed), the stream is aborted.
   */
  async upload(proc: number, args: (w: XdrWriter) => void, data: AsyncIterable<Uint8Array>): Promise<void> {
    const serial = this.serial++;
    let failed: Error | undefined;
    let opened = false;
    const ended = new Promise<void>((resolve, reject) => this.streams.set(serial, { resolve, reject }));
    ended.catch((err: unknown) => (failed = err as Error)); // seen while sending; awaited below
    try {
      await this.callWithSerial(serial, proc, args);
      opened = true;
      for await (const chunk of data) {
        for (let at = 0; at < chunk.length && !failed; at += STREAM_CHUNK_MAX) {
          await this.send(encodeStreamPacket(proc, serial, MessageStatus.Continue, chunk.subarray(at, at + STREAM_CHUNK_MAX)));
        }
        if (failed) break;
      }
      if (!failed) await this.send(encodeStreamPacket(proc, serial, MessageStatus.Ok));
      await ended;
    } catch (err) {
      // Tell the daemon to drop what it has (status ERROR, as virStreamAbort does); it answers
      // with an error we no longer wait for.
      if (opened && !failed && !this.closedWith) this.socket.write(encodeStreamPacket(proc, serial, MessageStatus.Error));
      throw err;
    } finally {
      this.streams.delete(serial);
    }
  }

  /**
   * Calls a procedure that opens a read stream (STORAGE_VOL_DOWNLOAD): the daemon sends the bytes
   * as CONTINUE packets, then an empty CONTINUE at the end of the data; we answer with an OK (the
   * finish handshake, as virStreamFinish does) and resolve with everything once the daemon
   * confirms with its OK. A daemon error rejects with LibvirtCallError.
   */
  async download(proc: number, args: (w: XdrWriter) => void): Promise<Buffer> {
    const serial = this.serial++;
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      this.streams.set(serial, {
        resolve,
        reject,
        data: (chunk) => chunks.push(chunk),
        endOfData: () => void this.send(encodeStreamPacket(proc, serial, MessageStatus.Ok)).catch(reject),
      });
    });
    try {
      await this.callWithSerial(serial, proc, args);
      await ended;
      return Buffer.concat(chunks);
    } finally {
      this.streams.delete(serial);
    }
  }

  /** Writes a packet, waiting while the socket's buffer is full (the daemon reads at its own pace). */
  private async send(packet: Buffer): Promise<void> {
    if (this.closedWith) throw this.closedWith;
    if (this.socket.write(packet)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => (unsubscribe(), resolve());
      const unsubscribe = this.onClose((err) => (this.socket.off("drain", onDrain), reject(err)));
      this.socket.once("drain", onDrain);
    });
  }

  private callWithSerial(serial: number, proc: number, args?: (w: XdrWriter) => void): Promise<XdrReader> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const payload = args ? buildPayload(args) : undefined;
    const header: MessageHeader = { prog: REMOTE_PROGRAM, vers: REMOTE_PROTOCOL_VERSION, proc, type: MessageType.Call, serial, status: MessageStatus.Ok };
    return new Promise<XdrReader>((resolve, reject) => {
      this.pending.set(serial, { proc, resolve, reject });
      this.socket.write(encodePacket(header, payload));
    });
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Called once, with the reason, when the connection ends for any reason. */
  onClose(listener: (err: Error) => void): () => void {
    if (this.closedWith) {
      listener(this.closedWith);
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(): void {
    this.fail(new ConnectionLostError("libvirt connection closed by the client"));
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = Date.now();
    let packets: Buffer[];
    try {
      packets = this.splitter.push(chunk);
    } catch (err) {
      this.fail(new ConnectionLostError((err as Error).message));
      return;
    }
    for (const packet of packets) {
      try {
        this.dispatch(packet);
      } catch (err) {
        // A packet we cannot read (truncated header, garbage): the stream can no longer be
        // trusted. The connection goes, its calls fail with why, the caller reconnects; the
        // process is never taken down by what a daemon (or whoever answers) sends.
        this.fail(new ConnectionLostError(`libvirt RPC: malformed packet from the daemon (${packet.length} bytes): ${(err as Error).message}`));
        return;
      }
    }
  }

  private dispatch(packet: Buffer): void {
    const { header, body } = decodePacket(packet);
    if (header.prog === KEEPALIVE_PROGRAM) {
      if (header.proc === KEEPALIVE_PROC_PING) this.sendKeepalive(KEEPALIVE_PROC_PONG);
      return;
    }
    if (header.prog !== REMOTE_PROGRAM) return;
    if (header.type === MessageType.Reply || header.type === MessageType.ReplyWithFds) {
      const call = this.pending.get(header.serial);
      if (!call) return;
      this.pending.delete(header.serial);
      if (header.type === MessageType.ReplyWithFds) body.fixedOpaque(0);
      try {
        if (header.status === MessageStatus.Ok) call.resolve(body);
        else call.reject(new LibvirtCallError(call.proc, readRemoteError(body)));
      } catch (err) {
        call.reject(err as Error);
      }
      return;
    }
    if (header.type === MessageType.Stream) {
      this.streamPacket(header, body);
      return;
    }
    if (header.type === MessageType.Message) {
      for (const listener of this.eventListeners) {
        try {
          listener(header.proc, body);
        } catch (err) {
          // A message we cannot decode means we no longer understand the stream: drop the connection.
          this.fail(new ConnectionLostError(`libvirt RPC: undecodable message ${header.proc}: ${(err as Error).message}`));
          return;
        }
      }
    }
  }

  /** A packet of an upload or download stream: data, the end of data, the daemon's OK, or its error. */
  private streamPacket(header: MessageHeader, body: XdrReader): void {
    const stream = this.streams.get(header.serial);
    if (!stream) return; // a stream we aborted, or data for a read stream we never opened
    if (header.status === MessageStatus.Error) {
      this.streams.delete(header.serial);
      try {
        stream.reject(new LibvirtCallError(header.proc, readRemoteError(body)));
      } catch (err) {
        stream.reject(err as Error);
      }
    } else if (header.status === MessageStatus.Ok) {
      this.streams.delete(header.serial);
      stream.resolve();
    } else if (body.remaining === 0 && stream.endOfData) {
      // a read stream's end of data (an empty CONTINUE); the daemon's OK will confirm our finish
      const end = stream.endOfData;
      delete stream.endOfData;
      end();
    } else {
      stream.data?.(body.rest());
    }
  }

  private sendKeepalive(proc: number): void {
    if (this.closedWith) return;
    const header: MessageHeader = { prog: KEEPALIVE_PROGRAM, vers: KEEPALIVE_PROTOCOL_VERSION, proc, type: MessageType.Message, serial: 0, status: MessageStatus.Ok };
    this.socket.write(encodePacket(header));
  }

  private startKeepalive({ intervalSeconds, count }: KeepaliveOptions): void {
    const intervalMs = intervalSeconds * 1000;
    this.keepaliveTimer = setInterval(() => {
      const silent = Date.now() - this.lastReceived;
      if (silent > intervalMs * count) {
        this.fail(new ConnectionLostError(`libvirt daemon silent for ${Math.round(silent / 1000)} s (keepalive timeout)`));
      } else if (silent >= intervalMs) {
        this.sendKeepalive(KEEPALIVE_PROC_PING);
      }
    }, intervalMs);
    this.keepaliveTimer.unref();
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    clearInterval(this.keepaliveTimer);
    this.socket.destroy();
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
    for (const stream of this.streams.values()) stream.reject(err);
    this.streams.clear();
    for (const listener of this.closeListeners) listener(err);
    this.closeListeners.clear();
    this.eventListeners.clear();
  }
}

function buildPayload(args: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter();
  args(w);
  return w.bytes();
}
