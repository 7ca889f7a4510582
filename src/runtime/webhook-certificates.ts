// The admission webhook's own certificates (ADR 0032): a CA and a serving certificate for the
// webhook Service's DNS names, made with the openssl CLI (the operator image carries it), and the
// checks that decide whether what a Secret holds can still be used.
import { execFile } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const dayMs = 24 * 3600 * 1000;

/** PEM texts, as the webhook Secret holds them (ca.crt may hold the previous CA too, during a CA change). */
export interface WebhookCertificates {
  "ca.crt": string;
  "ca.key": string;
  "tls.crt": string;
  "tls.key": string;
}

export interface CertificatePolicy {
  /** The webhook Service's name and namespace: the serving certificate's DNS names. */
  service: string;
  namespace: string;
  /** Days a serving certificate is valid; the CA lives ten times as long. */
  validityDays: number;
  /** Days before its end a serving certificate (or the CA) is replaced. */
  renewBeforeDays: number;
}

/** <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local */
export function serviceNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** The certificates of a PEM bundle, first first. */
function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

/** Why the certificates cannot be used as they are (undefined: they can). `ca` says the CA must be new too. */
export function needsRenewal(certs: Partial<WebhookCertificates>, policy: CertificatePolicy, now = Date.now()): { reason: string; ca: boolean } | undefined {
  let ca: X509Certificate | undefined;
  try {
    ca = certs["ca.crt"] && certs["ca.key"] ? pemCertificates(certs["ca.crt"])[0] : undefined;
  } catch {
    ca = undefined;
  }
  if (!ca) return { reason: "no CA yet", ca: true };
  // A serving certificate must never outlive its CA: replace the CA while a whole serving term still fits.
  if (ca.validToDate.getTime() - now < (policy.validityDays + policy.renewBeforeDays) * dayMs) return { reason: "the CA ends soon", ca: true };
  let serving: X509Certificate;
  try {
    if (!certs["tls.crt"] || !certs["tls.key"]) return { reason: "no serving certificate yet", ca: false };
    serving = new X509Certificate(certs["tls.crt"]);
  } catch {
    return { reason: "the serving certificate cannot be read", ca: false };
  }
  if (!serving.checkIssued(ca) || !serving.verify(ca.publicKey)) return { reason: "the serving certificate is not signed by the CA", ca: false };
  if (serving.validToDate.getTime() - now < policy.renewBeforeDays * dayMs) return { reason: "the serving certificate ends soon", ca: false };
  const names = serviceNames(policy.service, policy.namespace);
  const missing = names.find((n) => !serving.checkHost(n, { subject: "never" }));
  if (missing) return { reason: `the serving certificate does not name ${missing}`, ca: false };
  return undefined;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]}: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * New certificates: a serving certificate signed by the CA in `certs` (or by a new CA when
 * `newCa`). A new CA's bundle keeps the previous CA while it is valid, so clients holding the old
 * caBundle keep trusting the old serving certificate until the new one is everywhere.
 */
export async function issueCertificates(certs: Partial<WebhookCertificates>, policy: CertificatePolicy, newCa: boolean, now = Date.now()): Promise<WebhookCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "omnivisor-webhook-"));
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let caCert = certs["ca.crt"] ?? "";
    if (newCa) {
      await openssl(dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(policy.validityDays * 10),
        "-subj", `/CN=omnivisor-webhook-ca ${policy.namespace}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
      const previous = caCert ? pemCertificates(caCert).filter((c) => c.validToDate.getTime() > now) : [];
      caCert = [await readFile(join(dir, "ca.crt"), "utf8"), ...previous.map((c) => c.toString())].join("");
    } else {
      await writeFile(join(dir, "ca.crt"), pemCertificates(caCert)[0]!.toString());
      await writeFile(join(dir, "ca.key"), certs["ca.key"] ?? "", { mode: 0o600 });
    }
    const names = serviceNames(policy.service, policy.namespace);
    await writeFile(join(dir, "tls.ext"), [
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
    ].join("\n") + "\n");
    await openssl(dir, ["req", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", `/CN=${names[2]!}`]);
    await openssl(dir, ["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", String(policy.validityDays),
      "-set_serial", `0x${randomBytes(8).toString("hex").replace(/^[89a-f]/, "1")}`, "-extfile", "tls.ext", "-out", "tls.crt"]);
    const read = (f: string): Promise<string> => readFile(join(dir, f), "utf8");
    return { "ca.crt": caCert, "ca.key": await read("ca.key"), "tls.crt": await read("tls.crt"), "tls.key": await read("tls.key") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
