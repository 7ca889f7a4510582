// A TEST proxy that stands between a driver and its hypervisor (a protocol fake or vcsim) and
// spoils some replies on the way back: truncated, bytes flipped, emptied, replaced by junk, cut
// off mid-connection, or given a wrong status. What the drivers must survive from a broken or
// hostile endpoint; the mutation is chosen by a seeded random source, so a failure replays.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequest, createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng as seeded } from "../../src/placement/drs/synthetic.ts";

export type Mutation = "none" | "truncate" | "flip" | "empty" | "junk" | "cut" | "status" | "duplicate";
const mutations: Mutation[] = ["truncate", "flip", "empty", "junk", "cut", "status", "duplicate"];

export interface MutatingProxyOptions {
  /** Where requests go (http:// or https://; the upstream's certificate is not checked: a test fixture). */
  target: string;
  /** Serve TLS (with a self-signed certificate made here) instead of plain HTTP. */
  tls: boolean;
  /** Chance that a reply is spoiled. */
  rate: number;
  seed: number;
}

export class MutatingProxy {
  readonly counts = new Map<Mutation, number>();
  /** The proxy's certificate (PEM) when it serves TLS: what a driver is told to trust. */
  readonly certPem: string | undefined;
  private readonly server: Server;
  private readonly random: () => number;
  private readonly options: MutatingProxyOptions;
  private readonly dir: string | undefined;
  enabled = true;

  private constructor(options: MutatingProxyOptions) {
    this.options = options;
    this.random = seeded(options.seed);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.forward(req, res);
    if (options.tls) {
      this.dir = mkdtempSync(join(tmpdir(), "omnivisor-fuzz-proxy-"));
      const [key, cert] = [join(this.dir, "key.pem"), join(this.dir, "cert.pem")];
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE", "-days", "1", "-keyout", key, "-out", cert], { stdio: "ignore" });
      this.certPem = readFileSync(cert, "utf8");
      this.server = createHttpsServer({ key: readFileSync(key), cert: this.certPem }, handler);
    } else {
      this.server = createHttpServer(handler);
    }
  }

  static async start(options: MutatingProxyOptions): Promise<MutatingProxy> {
    const proxy = new MutatingProxy(options);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** The proxy's URL with the target's path. */
  get url(): string {
    const target = new URL(this.options.target);
    return `${this.options.tls ? "https" : "http"}://127.0.0.1:${(this.server.address() as AddressInfo).port}${target.pathname}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private pick(): Mutation {
    if (!this.enabled || this.random() >= this.options.rate) return "none";
    return mutations[Math.floor(this.random() * mutations.length)]!;
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = new URL(this.options.target);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const upstream = send(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, rejectUnauthorized: false },
      (up) => void this.reply(up, res),
    );
    upstream.on("error", () => res.destroy());
    upstream.end(Buffer.concat(chunks));
  }

  private async reply(up: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of up) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    let status = up.statusCode ?? 502;
    const mutation = this.pick();
    this.counts.set(mutation, (this.counts.get(mutation) ?? 0) + 1);
    switch (mutation) {
      case "truncate":
        body = body.subarray(0, Math.floor(this.random() * body.length));
        break;
      case "flip": {
        body = Buffer.from(body);
        for (let i = 0; i < 1 + Math.floor(this.random() * 8) && body.length > 0; i++) body[Math.floor(this.random() * body.length)] = Math.floor(this.random() * 256);
        break;
      }
      case "empty":
        body = Buffer.alloc(0);
        break;
      case "junk":
        body = Buffer.from(Array.from({ length: 1 + Math.floor(this.random() * 512) }, () => Math.floor(this.random() * 256)));
        break;
      case "duplicate":
        body = Buffer.concat([body, body]);
        break;
      case "status":
        status = [200, 302, 400, 404, 418, 500, 503][Math.floor(this.random() * 7)]!;
        break;
      case "cut":
        res.socket?.destroy();
        return;
      case "none":
        break;
    }
    const headers = { ...up.headers };
    delete headers["content-length"];
    delete headers["transfer-encoding"];
    res.writeHead(status, { ...headers, "content-length": String(body.length) });
    res.end(body);
  }
}
