// Proxies a test can cut, in front of a daemon's unix socket (SocketProxy) or a TCP port
// (TcpProxy), so a client's connection can be lost (as in a daemon restart or a network failure)
// without touching the shared daemon. TLS passes through untouched.
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Joins a client to its upstream; an error on either side closes both. Both are tracked in `open`. */
function joinBoth(client: Socket, upstream: Socket, open: Set<Socket>): void {
  for (const s of [client, upstream]) {
    open.add(s);
    s.on("close", () => open.delete(s));
    s.on("error", () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream);
  upstream.pipe(client);
}

export class SocketProxy {
  /** The proxy's own socket path: point the client here. */
  readonly path: string;
  private readonly target: string;
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly dir: string;

  private constructor(dir: string, target: string) {
    this.dir = dir;
    this.target = target;
    this.path = join(dir, "proxy.sock");
    this.server = createServer();
  }

  static async start(target: string): Promise<SocketProxy> {
    const proxy = new SocketProxy(await mkdtemp(join(tmpdir(), "omni-proxy-")), target);
    await proxy.resume();
    return proxy;
  }

  /** Accepts connections (again, after drop()). */
  async resume(): Promise<void> {
    this.server = createServer((client) => joinBoth(client, createConnection(this.target), this.sockets));
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.path, resolve);
    });
  }

  /** Cuts every open connection and stops accepting new ones (the socket file goes away). */
  async drop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async dispose(): Promise<void> {
    if (this.server.listening) await this.drop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The same in front of a TCP port, listening on 127.0.0.1. */
export class TcpProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private severed = false;
  /** The proxy's port on 127.0.0.1. */
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.severed) return void client.destroy();
      joinBoth(client, createConnection(target.port, target.host), this.sockets);
    });
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", resolve);
    });
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  /** Drops every open connection and refuses new ones until restore(). */
  sever(): void {
    this.severed = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.severed = false;
  }

  /** Cuts every open connection and stops listening. */
  async drop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.sever();
    await closed;
  }

  async dispose(): Promise<void> {
    if (this.server.listening) await this.drop();
  }
}

/** A TcpProxy in front of the host and port of an http(s) URL. */
export function proxyFor(url: string): Promise<TcpProxy> {
  const u = new URL(url);
  return TcpProxy.start({ host: u.hostname, port: Number(u.port || (u.protocol === "https:" ? 443 : 80)) });
}
