// A minimal HTTPS client for the local control plane itself (readiness and discovery probes).
// Everything else talks to the API server through @kubernetes/client-node or kubectl.
import { readFileSync } from "node:fs";
import { request } from "node:https";

export interface TlsClient {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export interface HttpResult {
  status: number;
  body: string;
}

export function kubeRequest(
  tls: TlsClient,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5_000,
): Promise<HttpResult> {
  const url = new URL(path, tls.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.cert),
        key: readFileSync(tls.key),
        headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}
