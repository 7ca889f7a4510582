// Keeps the admission webhook's certificates (ADR 0032), as controller-runtime's cert rotator does:
// every manager replica reads the webhook Secret (which the Helm chart makes empty); when it holds
// nothing usable, one replica issues a CA and serving certificate and writes them (a replace with
// the resourceVersion read: a replica that loses the race takes the winner's); every replica writes
// them to its own files for the HTTPS server, and sets the caBundle of the one
// ValidatingWebhookConfiguration it is given by name when it differs. Nothing is written while the
// certificates are good: at rest this reads two objects per check.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { describeError, statusCode, type Logger } from "./log.ts";
import { issueCertificates, needsRenewal, type CertificatePolicy, type WebhookCertificates } from "./webhook-certificates.ts";

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
const keys = ["ca.crt", "ca.key", "tls.crt", "tls.key"] as const;

export interface CertRotatorOptions extends CertificatePolicy {
  kc: KubeConfig;
  log: Logger;
  /** The Secret (in `namespace`) that holds ca.crt, ca.key, tls.crt, tls.key. */
  secret: string;
  /** The ValidatingWebhookConfiguration whose webhooks get the CA bundle. */
  webhookConfiguration: string;
  /** Where this replica's tls.crt and tls.key are written for its HTTPS server. */
  dir: string;
  /** How often the Secret and the caBundle are checked (default 60 s). */
  checkIntervalMs?: number;
}

export class WebhookCertRotator {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly options: CertRotatorOptions;
  /** Certificates issued or renewed by this replica (tests and logs). */
  issued = 0;

  constructor(options: CertRotatorOptions) {
    this.options = options;
    this.core = options.kc.makeApiClient(CoreV1Api);
    this.admission = options.kc.makeApiClient(AdmissionregistrationV1Api);
  }

  get certFile(): string {
    return join(this.options.dir, "tls.crt");
  }

  get keyFile(): string {
    return join(this.options.dir, "tls.key");
  }

  /** Makes sure the Secret, this replica's files and the caBundle hold good certificates; true when the files changed. */
  async ensure(): Promise<boolean> {
    const certs = await this.usableCertificates();
    const filesChanged = await this.writeFiles(certs);
    await this.setCaBundle(certs["ca.crt"]);
    return filesChanged;
  }

  /** Checks every checkIntervalMs until the signal aborts; `renewed` runs when the files changed. */
  async run(signal: AbortSignal, renewed: () => Promise<void>): Promise<void> {
    const interval = this.options.checkIntervalMs ?? 60_000;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval);
        signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      if (signal.aborted) return;
      try {
        if (await this.ensure()) await renewed();
      } catch (err) {
        this.options.log.warn("webhook certificates: check failed; retrying", { error: describeError(err) });
      }
    }
  }

  private async usableCertificates(): Promise<WebhookCertificates> {
    const { namespace, secret, log } = this.options;
    for (let attempt = 1; ; attempt++) {
      const current = await this.core.readNamespacedSecret({ name: secret, namespace });
      const held: Partial<WebhookCertificates> = {};
      for (const k of keys) {
        const v = current.data?.[k];
        if (v) held[k] = Buffer.from(v, "base64").toString("utf8");
      }
      const why = needsRenewal(held, this.options);
      if (!why) return held as WebhookCertificates;
      const fresh = await issueCertificates(held, this.options, why.ca);
      const data = Object.fromEntries(keys.map((k) => [k, Buffer.from(fresh[k]).toString("base64")]));
      try {
        // resourceVersion from the read: if another replica wrote first, this fails with 409.
        await this.core.replaceNamespacedSecret({ name: secret, namespace, body: { ...current, data } });
        this.issued++;
        log.info("webhook certificates issued", { object: `Secret ${namespace}/${secret}`, reason: why.reason, newCa: why.ca });
        return fresh;
      } catch (err) {
        if (statusCode(err) !== 409 || attempt >= 5) throw err;
        log.debug("webhook certificates: another replica wrote them first; reading theirs");
      }
    }
  }

  private async writeFiles(certs: WebhookCertificates): Promise<boolean> {
    const { dir } = this.options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const same = async (file: string, text: string): Promise<boolean> => (await readFile(file, "utf8").catch(() => "")) === text;
    if ((await same(this.certFile, certs["tls.crt"])) && (await same(this.keyFile, certs["tls.key"]))) return false;
    // Key first, then certificate, each replaced whole: a reader never sees half a file.
    for (const [file, text] of [[this.keyFile, certs["tls.key"]], [this.certFile, certs["tls.crt"]]] as const) {
      await writeFile(`${file}.new`, text, { mode: 0o600 });
      await rename(`${file}.new`, file);
    }
    return true;
  }

  private async setCaBundle(caPem: string): Promise<void> {
    const name = this.options.webhookConfiguration;
    const bundle = Buffer.from(caPem).toString("base64");
    const config = await this.admission.readValidatingWebhookConfiguration({ name });
    const patch = (config.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig.caBundle === bundle
        ? []
        : [
            { op: "test", path: `/webhooks/${i}/name`, value: w.name },
            { op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle },
          ],
    );
    if (patch.length === 0) return;
    await this.admission.patchValidatingWebhookConfiguration({ name, body: patch }, jsonPatch);
    this.options.log.info("webhook caBundle set", { webhookConfiguration: name, webhooks: patch.length / 2 });
  }
}
