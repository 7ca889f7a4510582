// The RPC client against a scripted fake daemon on a unix socket: replies matched by serial even
// out of order, errors carried as LibvirtCallError, PING answered with PONG, and a daemon that
// goes silent (no close, as behind a dead network) detected by keepalive.
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConnectionLostError, LibvirtCallError, RpcClient } from "./client.ts";
import { KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM, MessageStatus, MessageType, PacketSplitter, REMOTE_PROGRAM, decodePacket, encodePacket, encodeStreamPacket, type Packet } from "./protocol.ts";
import { XdrWriter } from "./xdr.ts";

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A fake daemon: hands every decoded packet to `onPacket` with the socket to answer on. */
interface FakeDaemon {
  client: (k?: { intervalSeconds: number; count: number }) => Promise<RpcClient>;
  /** The daemon's side of each accepted connection. */
  sockets: Socket[];
}

async function fakeDaemon(onPacket: (p: Packet, socket: Socket) => void): Promise<FakeDaemon> {
  const dir = await mkdtemp(join(tmpdir(), "omni-rpc-"));
  const path = join(dir, "sock");
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    const splitter = new PacketSplitter();
    socket.on("data", (chunk: Buffer) => splitter.push(chunk).forEach((p) => onPacket(decodePacket(p), socket)));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  const clients: RpcClient[] = [];
  cleanup = async () => {
    clients.forEach((c) => c.close());
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  };
  return {
    sockets,
    client: async (keepalive = { intervalSeconds: 0, count: 0 }) => {
      const socket = createConnection(path);
      await new Promise((r) => socket.once("connect", r));
      const c = new RpcClient(socket, keepalive);
      clients.push(c);
      return c;
    },
  };
}

function reply(socket: Socket, serial: number, proc: number, body: Buffer, status: number = MessageStatus.Ok): void {
  socket.write(encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc, type: MessageType.Reply, serial, status }, body));
}

describe("RpcClient", () => {
  it("matches replies to calls by serial, also when the daemon answers out of order", async () => {
    const held: Packet[] = [];
    const daemon = await fakeDaemon((p, socket) => {
      held.push(p);
      if (held.length < 2) return;
      // Answer the second call first.
      for (const call of held.reverse()) reply(socket, call.header.serial, call.header.proc, new XdrWriter().int(call.header.proc * 10).bytes());
    });
    const client = await daemon.client();
    const [a, b] = await Promise.all([client.call(3), client.call(4)]);
    expect([a.int(), b.int()]).toEqual([30, 40]);
  });

  it("rejects a failed call with the daemon's virError code and message", async () => {
    const daemon = await fakeDaemon((p, socket) => {
      const err = new XdrWriter().int(42).int(10).optionalString("Domain not found: no domain with matching name 'x'").int(2);
      err.bool(false).optionalString(undefined).optionalString(undefined).optionalString(undefined).int(0).int(0).bool(false);
      reply(socket, p.header.serial, p.header.proc, err.bytes(), MessageStatus.Error);
    });
    const err = (await (await daemon.client()).call(23).catch((e: unknown) => e)) as LibvirtCallError;
    expect(err).toBeInstanceOf(LibvirtCallError);
    expect(err.remote.code).toBe(42);
    expect(err.message).toMatch(/Domain not found/);
  });

  it("answers the daemon's PING with PONG", async () => {
    let pong: (() => void) | undefined;
    const gotPong = new Promise<void>((r) => (pong = r));
    const daemon = await fakeDaemon((p) => {
      if (p.header.prog === KEEPALIVE_PROGRAM && p.header.proc === KEEPALIVE_PROC_PONG) pong?.();
    });
    await daemon.client();
    await new Promise((r) => setImmediate(r)); // let the server accept
    daemon.sockets[0]?.write(encodePacket({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: KEEPALIVE_PROC_PING, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }));
    await gotPong;
  });

  it("declares a silent daemon lost after the keepalive count, failing calls in flight as ConnectionLostError", async () => {
    const daemon = await fakeDaemon(() => undefined); // never answers anything, never closes
    const client = await daemon.client({ intervalSeconds: 0.05, count: 3 });
    const closed = new Promise<Error>((r) => client.onClose(r));
    const call = client.call(4).catch((e: unknown) => e);
    expect(await call).toBeInstanceOf(ConnectionLostError);
    expect((await closed).message).toMatch(/keepalive timeout/);
    expect(client.closed).toBe(true);
  });

  it("drops the connection (instead of crashing the process) on an event it cannot decode", async () => {
    const daemon = await fakeDaemon(() => undefined);
    const client = await daemon.client();
    client.onEvent((_, body) => body.string()); // expects a string; the fake sends 2 bytes
    const closed = new Promise<Error>((r) => client.onClose(r));
    await new Promise((r) => setImmediate(r));
    daemon.sockets[0]?.write(encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: 318, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }, Buffer.from([0, 0, 0, 9])));
    expect((await closed).message).toMatch(/undecodable message 318/);
  });
});

describe("RpcClient against a daemon sending garbage", () => {
  /** A packet as it travels: 4-byte big-endian length (itself included), then the bytes. */
  const framed = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0].map((_, i) => ((bytes.length + 4) >>> (24 - 8 * i)) & 0xff)), bytes]);

  it("given 10,000 random and mutated packets, then no exception escapes: each bad one drops its connection with why, and calls fail as ConnectionLostError", async () => {
    const valid = encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: 3, type: MessageType.Reply, serial: 0, status: MessageStatus.Ok }, new XdrWriter().int(30).bytes()).subarray(4);
    let seed = 12345;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const packets: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i % 2 === 0) {
        packets.push(Buffer.from(Array.from({ length: random(40) }, () => random(256)))); // random bytes of any length, even too short for a header
      } else {
        const mutated = Buffer.from(valid.subarray(0, random(valid.length + 1))); // truncated ...
        for (let flips = random(4); flips > 0 && mutated.length > 0; flips--) mutated[random(mutated.length)] = random(256); // ... and bit-flipped
        packets.push(mutated);
      }
    }
    let next = 0;
    const daemon = await fakeDaemon((p, socket) => {
      if (p.header.type !== MessageType.Call) return;
      // answer each call with the next bad packet, then the real reply (never read if the bad one dropped the connection)
      socket.write(framed(packets[next++ % packets.length]!));
      reply(socket, p.header.serial, p.header.proc, new XdrWriter().int(30).bytes());
    });
    const outcomes = { answered: 0, dropped: 0, other: [] as string[] };
    let client = await daemon.client();
    for (let i = 0; i < 10_000; i++) {
      if (client.closed) client = await daemon.client();
      const result = await client.call(3).then(
        () => "answered",
        (e: unknown) => (e instanceof ConnectionLostError ? "dropped" : `other: ${(e as Error).message}`),
      );
      if (result === "answered") outcomes.answered++;
      else if (result === "dropped") outcomes.dropped++;
      else outcomes.other.push(result);
    }
    expect(outcomes.other).toEqual([]);
    expect(outcomes.answered + outcomes.dropped).toBe(10_000);
    expect(outcomes.dropped, "most garbage is noticed").toBeGreaterThan(5_000);
  }, 120_000);

  it("says what was wrong when a packet is too short to hold a header", async () => {
    const daemon = await fakeDaemon((p, socket) => {
      if (p.header.type === MessageType.Call) socket.write(framed(Buffer.from([0x20, 0x00, 0x80, 0x86, 0, 0])));
    });
    const client = await daemon.client();
    const err = await client.call(3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toBe("libvirt RPC: invalid packet length 10");
  });
});

describe("RpcClient upload streams", () => {
  /** A fake daemon that accepts an upload call, collects its CONTINUE packets and answers the final OK. */
  function uploadDaemon(opts: { failAfterBytes?: number } = {}): { received: Buffer[]; packets: Packet[]; onPacket: (p: Packet, socket: Socket) => void } {
    const received: Buffer[] = [];
    const packets: Packet[] = [];
    let total = 0;
    return {
      received,
      packets,
      onPacket: (p, socket) => {
        packets.push(p);
        const { header } = p;
        if (header.type === MessageType.Call) return reply(socket, header.serial, header.proc, Buffer.alloc(0));
        if (header.type !== MessageType.Stream) return;
        if (header.status === MessageStatus.Continue) {
          const data = p.body.rest(); // raw bytes: the rest of the packet
          received.push(data);
          total += data.length;
          if (opts.failAfterBytes !== undefined && total >= opts.failAfterBytes && total - data.length < opts.failAfterBytes) {
            const err = new XdrWriter().int(38).int(18).optionalString("cannot write: No space left on device").int(2);
            err.bool(false).optionalString(undefined).optionalString(undefined).optionalString(undefined).int(0).int(0).bool(false);
            socket.write(encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: header.proc, type: MessageType.Stream, serial: header.serial, status: MessageStatus.Error }, err.bytes()));
          }
        } else if (header.status === MessageStatus.Ok) {
          socket.write(encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc: header.proc, type: MessageType.Stream, serial: header.serial, status: MessageStatus.Ok }));
        }
      },
    };
  }

  async function* chunks(...parts: Buffer[]): AsyncIterable<Buffer> {
    for (const p of parts) yield await Promise.resolve(p);
  }

  it("sends the data as raw CONTINUE packets with the call's serial, then an empty OK, and resolves on the daemon's OK", async () => {
    const fake = uploadDaemon();
    const daemon = await fakeDaemon(fake.onPacket);
    const client = await daemon.client();
    // 600 KiB + 3 bytes: more than two packets' worth, and a length that is not a multiple of 4
    const data = Buffer.alloc(600 * 1024 + 3, 7);
    data[data.length - 1] = 9;
    await client.upload(208, (w) => w.string("vol"), chunks(data.subarray(0, 1000), data.subarray(1000)));
    expect(Buffer.concat(fake.received).equals(data)).toBe(true);
    const [call, ...stream] = fake.packets;
    expect(call?.header).toMatchObject({ type: MessageType.Call, proc: 208 });
    expect(stream.every((p) => p.header.type === MessageType.Stream && p.header.serial === call?.header.serial && p.header.proc === 208)).toBe(true);
    expect(stream.map((p) => p.header.status).slice(-2)).toEqual([MessageStatus.Continue, MessageStatus.Ok]);
    expect(stream.at(-1)?.body.remaining).toBe(0);
  });

  it("rejects with the daemon's error when it fails mid-stream, and stops sending", async () => {
    const fake = uploadDaemon({ failAfterBytes: 1 });
    const daemon = await fakeDaemon(fake.onPacket);
    const client = await daemon.client();
    async function* endless(): AsyncIterable<Buffer> {
      for (;;) {
        yield Buffer.alloc(64 * 1024);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const err = (await client.upload(208, (w) => w.string("vol"), endless()).catch((e: unknown) => e)) as LibvirtCallError;
    expect(err).toBeInstanceOf(LibvirtCallError);
    expect(err.remote.code).toBe(38);
    expect(err.message).toMatch(/No space left/);
    expect(client.closed).toBe(false); // the connection stays usable
  });

  it("aborts the stream (status ERROR) when our own source fails", async () => {
    const fake = uploadDaemon();
    const daemon = await fakeDaemon(fake.onPacket);
    const client = await daemon.client();
    async function* broken(): AsyncIterable<Buffer> {
      yield Buffer.alloc(10);
      await new Promise((r) => setImmediate(r));
      throw new Error("local file vanished");
    }
    await expect(client.upload(208, (w) => w.string("vol"), broken())).rejects.toThrow(/local file vanished/);
    await vi.waitFor(() => expect(fake.packets.at(-1)?.header).toMatchObject({ type: MessageType.Stream, status: MessageStatus.Error }));
  });
});

describe("RpcClient download streams", () => {
  it("collects the daemon's CONTINUE packets as raw bytes, answers the empty CONTINUE (end of data) with OK, and resolves on the daemon's OK", async () => {
    // as libvirtd does: reply to the call, data in packets, an empty CONTINUE at EOF, then OK to the client's finish
    const data = Buffer.alloc(300 * 1024 + 3, 5);
    data[0] = 1;
    const fromClient: Packet[] = [];
    const daemon = await fakeDaemon((p, socket) => {
      fromClient.push(p);
      const { header } = p;
      const stream = (status: number, body?: Buffer): void => void socket.write(encodeStreamPacket(header.proc, header.serial, status, body)); // raw data, no XDR padding
      if (header.type === MessageType.Call) {
        reply(socket, header.serial, header.proc, Buffer.alloc(0));
        stream(MessageStatus.Continue, data.subarray(0, 262120));
        stream(MessageStatus.Continue, data.subarray(262120));
        stream(MessageStatus.Continue, Buffer.alloc(0));
      } else if (header.type === MessageType.Stream && header.status === MessageStatus.Ok) stream(MessageStatus.Ok);
    });
    const client = await daemon.client();
    const got = await client.download(209, (w) => w.string("vol"));
    expect(got.equals(data)).toBe(true);
    expect(fromClient.map((p) => [p.header.type, p.header.status])).toEqual([
      [MessageType.Call, MessageStatus.Ok],
      [MessageType.Stream, MessageStatus.Ok], // the finish handshake
    ]);
  });
});
