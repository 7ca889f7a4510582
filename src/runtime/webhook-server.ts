// The manager's admission webhook server: HTTPS, on every replica (leader or not), answering the
// API server's AdmissionReview (admission.k8s.io/v1) POSTs on each handler's path. A handler that
// throws denies the request (fail closed) with what went wrong. Answer times go to the
// omnivisor_webhook_duration_seconds histogram.
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { Histogram, type Registry } from "prom-client";
import { describeError, type Logger } from "./log.ts";

/** The part of an AdmissionReview request the handlers read. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionVerdict {
  allowed: boolean;
  /** Why not (shown to the user after `admission webhook "…" denied the request:`). */
  message?: string;
}

export interface AdmissionHandler {
  /** URL path the webhook configuration points at, e.g. /validate-quota. */
  path: string;
  /** True once the handler can answer (its caches are synced). */
  ready(): boolean;
  review(request: AdmissionRequest): Promise<AdmissionVerdict>;
}

export interface WebhookServerOptions {
  certFile: string;
  keyFile: string;
  handlers: AdmissionHandler[];
  log: Logger;
  registry: Registry;
}

export class WebhookServer {
  private server: Server | undefined;
  private readonly options: WebhookServerOptions;
  private readonly duration: Histogram<"path" | "allowed">;

  constructor(options: WebhookServerOptions) {
    this.options = options;
    this.duration = new Histogram({
      name: "omnivisor_webhook_duration_seconds",
      help: "Time the admission webhook took to answer, by path and verdict.",
      labelNames: ["path", "allowed"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [options.registry],
    });
  }

  /** True while listening and every handler can answer. */
  get serving(): boolean {
    return this.server?.listening === true && this.options.handlers.every((h) => h.ready());
  }

  /** Reads the certificate files and listens on host:port (0: any free port); resolves the port. */
  async listen(port: number, host: string): Promise<number> {
    const [cert, key] = await Promise.all([readFile(this.options.certFile), readFile(this.options.keyFile)]);
    const server = createServer({ cert, key }, (req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const handler = this.options.handlers.find((h) => h.path === path);
      if (!handler || req.method !== "POST") return void res.writeHead(404).end();
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const started = process.hrtime.bigint();
        void this.answer(handler, Buffer.concat(chunks).toString("utf8")).then((body) => {
          const allowed = String((body.response as { allowed: boolean }).allowed);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          this.duration.observe({ path, allowed }, seconds);
          this.options.log.debug("admission answered", { path, allowed, ms: Math.round(seconds * 1e6) / 1e3 });
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
        });
      });
    });
    server.keepAliveTimeout = 60_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  /** Reads the certificate files again and serves them to new connections (renewed certificates). */
  async reload(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const [cert, key] = await Promise.all([readFile(this.options.certFile), readFile(this.options.keyFile)]);
    server.setSecureContext({ cert, key });
    this.options.log.info("admission webhook: serving renewed certificates");
  }

  private async answer(handler: AdmissionHandler, text: string): Promise<{ apiVersion: string; kind: string; response: object }> {
    let uid = "";
    let verdict: AdmissionVerdict;
    try {
      const review = JSON.parse(text) as { request?: AdmissionRequest };
      if (!review.request) throw new Error("the AdmissionReview has no request");
      uid = review.request.uid;
      verdict = await handler.review(review.request);
    } catch (err) {
      this.options.log.warn("admission failed; denying", { path: handler.path, error: describeError(err) });
      verdict = { allowed: false, message: `Omnivisor admission (${handler.path}) could not decide: ${describeError(err)}` };
    }
    const response = verdict.allowed ? { uid, allowed: true } : { uid, allowed: false, status: { code: 403, reason: "Forbidden", message: verdict.message ?? "denied" } };
    return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
