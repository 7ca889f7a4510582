// Scenario: the managers' own webhook certificates (ADR 0032) on the real API server. Two replicas
// starting at once fill the chart's empty Secret once and agree on it; the caBundle of the named
// ValidatingWebhookConfiguration is set; at rest nothing is written; a certificate near its end is
// renewed with the same CA and the HTTPS server serves the new one without a restart; a caBundle
// wiped by someone else's apply is set again.
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runKubectl } from "../../src/local/kubectl.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { createLogger } from "../../src/runtime/log.ts";
import { WebhookCertRotator } from "../../src/runtime/webhook-cert-rotator.ts";
import { WebhookServer } from "../../src/runtime/webhook-server.ts";

const kubeconfig = inject("kubeconfig");
const kubectl = (args: string[], input?: string): Promise<string> => runKubectl(toolchain().kubectl, kubeconfig, args, input);
const log = createLogger({ write: () => undefined });

/** The certificate the server at port presents for servername. */
function presented(port: number, servername: string, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error("no certificate presented"));
    });
    socket.on("error", reject);
  });
}

describe("webhook certificates made by the managers", () => {
  const suffix = randomBytes(3).toString("hex");
  const namespace = `omnivisor-certs-${suffix}`;
  const secret = "omnivisor-webhook-cert";
  const webhookConfiguration = `omnivisor-certs-test-${suffix}`;
  const service = "omnivisor-webhook";
  const dirs: string[] = [];
  const resourceVersions = async (): Promise<string> =>
    (await kubectl(["get", `secret/${secret}`, "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}"])) + "/" + (await kubectl(["get", `validatingwebhookconfiguration/${webhookConfiguration}`, "-o", "jsonpath={.metadata.resourceVersion}"]));
  const caBundle = async (): Promise<string> => Buffer.from(await kubectl(["get", `validatingwebhookconfiguration/${webhookConfiguration}`, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"]), "base64").toString();
  // Matches nothing any other test makes: a namespace label no namespace has.
  const configuration = JSON.stringify({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: webhookConfiguration },
    webhooks: [{
      name: "vdcquota.omnivisor.io",
      clientConfig: { service: { name: service, namespace, path: "/validate-quota", port: 443 } },
      rules: [{ apiGroups: ["omnivisor.io"], apiVersions: ["v1alpha1"], operations: ["CREATE"], resources: ["virtualmachines"], scope: "Namespaced" }],
      namespaceSelector: { matchLabels: { [`omnivisor-certs-test-${suffix}`]: "never" } },
      failurePolicy: "Fail",
      sideEffects: "None",
      admissionReviewVersions: ["v1"],
    }],
  });

  async function replica(policy: { validityDays?: number; renewBeforeDays?: number } = {}): Promise<WebhookCertRotator> {
    const dir = await mkdtemp(join(tmpdir(), "omnivisor-webhook-test-"));
    dirs.push(dir);
    return new WebhookCertRotator({ kc: loadKubeConfig(kubeconfig), log, namespace, secret, webhookConfiguration, service, dir, validityDays: policy.validityDays ?? 365, renewBeforeDays: policy.renewBeforeDays ?? 30 });
  }

  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
    // As the chart makes it: empty.
    await kubectl(["create", "secret", "generic", secret, "-n", namespace]);
    await kubectl(["create", "-f", "-"], configuration);
  });

  afterAll(async () => {
    await kubectl(["delete", "validatingwebhookconfiguration", webhookConfiguration, "--ignore-not-found"]);
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("given two replicas starting at once, when both ensure, then one issues, both serve the same certificate and the caBundle is its CA", async () => {
    const [a, b] = [await replica(), await replica()];
    expect(await Promise.all([a.ensure(), b.ensure()])).toEqual([true, true]);
    expect(a.issued + b.issued).toBe(1);
    expect(await readFile(a.certFile, "utf8")).toBe(await readFile(b.certFile, "utf8"));
    const stored = Buffer.from(await kubectl(["get", `secret/${secret}`, "-n", namespace, "-o", "jsonpath={.data.ca\\.crt}"]), "base64").toString();
    expect(await caBundle()).toBe(stored);
    const serving = new X509Certificate(await readFile(a.certFile, "utf8"));
    expect(serving.verify(new X509Certificate(stored).publicKey)).toBe(true);
    expect(serving.checkHost(`${service}.${namespace}.svc`, { subject: "never" })).toBe(`${service}.${namespace}.svc`);
  });

  it("given good certificates, when a replica checks again, then nothing is written (resourceVersions unchanged)", async () => {
    const before = await resourceVersions();
    const c = await replica();
    expect(await c.ensure()).toBe(true); // a new replica writes its own files, nothing on the server
    expect(await c.ensure()).toBe(false);
    expect(c.issued).toBe(0);
    expect(await resourceVersions()).toBe(before);
  });

  it("given a serving certificate near its end, when checked, then it is renewed by the same CA and the running server presents the new one", async () => {
    const rotator = await replica();
    await rotator.ensure();
    const server = new WebhookServer({ certFile: rotator.certFile, keyFile: rotator.keyFile, handlers: [], log, registry: new Registry() });
    const port = await server.listen(0, "127.0.0.1");
    try {
      const ca = await caBundle();
      const name = `${service}.${namespace}.svc`;
      const first = await presented(port, name, ca);
      // A replica whose renewal window is longer than the certificate's remaining life.
      const renewing = await replica({ renewBeforeDays: 400 });
      expect(await renewing.ensure()).toBe(true);
      expect(renewing.issued).toBe(1);
      expect(await caBundle()).toBe(ca);
      // The first replica sees the renewed Secret on its next check (run() does this every
      // minute and calls the manager's reload) and serves it without a restart.
      expect(await rotator.ensure()).toBe(true);
      await server.reload();
      const second = await presented(port, name, ca);
      expect(second.serialNumber).not.toBe(first.serialNumber);
      expect(second.serialNumber).toBe(new X509Certificate(await readFile(renewing.certFile, "utf8")).serialNumber);
    } finally {
      await server.close();
    }
  });

  it("given the caBundle wiped by someone else's apply, when checked, then it is set again", async () => {
    await kubectl(["replace", "-f", "-"], configuration);
    expect(await caBundle()).toBe("");
    const rotator = await replica();
    await rotator.ensure();
    expect(await caBundle()).toContain("BEGIN CERTIFICATE");
  });
});
