import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "./log.ts";
import { WebhookServer, type AdmissionRequest } from "./webhook-server.ts";

// a self-signed certificate for 127.0.0.1, made with the openssl CLI (as src/local/pki.ts does)
const dir = mkdtempSync(join(tmpdir(), "webhook-server-test-"));
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls.key", "-out", "tls.crt", "-days", "1", "-subj", "/CN=test", "-addext", "subjectAltName=IP:127.0.0.1"], { cwd: dir, stdio: "ignore" });

function post(port: number, path: string, body: unknown): Promise<{ status: number; json: { response?: { uid: string; allowed: boolean; status?: { code: number; message: string } } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", ca: readFileSync(join(dir, "tls.crt")), headers: { "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as never) : ({}) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const review = (request: Partial<AdmissionRequest>) => ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "req-1", kind: { group: "omnivisor.io", version: "v1alpha1", kind: "VirtualMachine" }, operation: "CREATE", ...request } });

describe("admission webhook server", () => {
  let ready = false;
  const server = new WebhookServer({
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    log: createLogger({ write: () => undefined }),
    registry: new Registry(),
    handlers: [
      {
        path: "/validate",
        ready: () => ready,
        review: (r) => (r.name === "boom" ? Promise.reject(new Error("the quota could not be read")) : Promise.resolve(r.name === "big" ? { allowed: false, message: "namespace a would use 12 vCPUs of 10 (VDCQuota a)" } : { allowed: true })),
      },
    ],
  });
  let port = 0;
  beforeAll(async () => {
    expect(server.serving).toBe(false);
    port = await server.listen(0, "127.0.0.1");
  });
  afterAll(() => server.close());

  it("serves only once listening and its handlers are ready", () => {
    expect(server.serving).toBe(false);
    ready = true;
    expect(server.serving).toBe(true);
  });

  it("answers an AdmissionReview with the request's uid: allowed, or refused with the handler's message", async () => {
    expect((await post(port, "/validate", review({ name: "small" }))).json.response).toEqual({ uid: "req-1", allowed: true });
    expect((await post(port, "/validate", review({ name: "big" }))).json.response).toEqual({ uid: "req-1", allowed: false, status: { code: 403, reason: "Forbidden", message: "namespace a would use 12 vCPUs of 10 (VDCQuota a)" } });
  });

  it("refuses (fails closed) when the handler cannot decide, saying why", async () => {
    const answer = (await post(port, "/validate", review({ name: "boom" }))).json.response;
    expect(answer?.allowed).toBe(false);
    expect(answer?.status?.message).toContain("the quota could not be read");
  });

  it("knows only its handlers' paths", async () => {
    expect((await post(port, "/other", review({}))).status).toBe(404);
  });
});
