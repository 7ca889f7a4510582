// /metrics (Prometheus text), /healthz (the process is alive) and /readyz (every cache synced, and
// the admission webhook serving where the manager has one).
// Runs on every replica, leader or not.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HealthSource {
  registry: Registry;
  ready(): boolean;
}

export class HealthServer {
  private readonly server: Server;

  constructor(source: HealthSource) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/metrics") {
        source.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": source.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
        return;
      }
      if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      if (path === "/readyz") {
        const ready = source.ready();
        return void res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ok\n" : "not ready: caches not synced, or the admission webhook not serving yet\n");
      }
      res.writeHead(404).end();
    });
  }

  /** Listens on host:port (port 0 picks a free one); resolves the port. */
  listen(port: number, host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
