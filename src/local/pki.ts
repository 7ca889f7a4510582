// Certificates for a local control plane, generated at start with the openssl CLI:
// a CA, the API server's serving certificate, client certificates (admin, operator,
// controller manager) and the service-account signing key pair.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A random serial per certificate: certificates are signed in parallel, so no shared ca.srl. */
function serial(): string {
  return `0x${randomBytes(8).toString("hex").replace(/^[89a-f]/, "1")}`;
}

export interface ClientIdentity {
  /** File stem, e.g. "admin" → admin.crt / admin.key. */
  name: string;
  /** Common name: the Kubernetes user name. */
  user: string;
  /** Organizations: the Kubernetes groups. */
  groups: string[];
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  client(name: string): { cert: string; key: string };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

async function ecKey(dir: string, file: string): Promise<void> {
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], dir);
}

async function signedCert(
  dir: string,
  stem: string,
  subject: string,
  extensions: string,
): Promise<void> {
  await ecKey(dir, `${stem}.key`);
  await openssl(["req", "-new", "-key", `${stem}.key`, "-subj", subject, "-out", `${stem}.csr`], dir);
  await writeFile(join(dir, `${stem}.ext`), extensions);
  await openssl(
    ["x509", "-req", "-in", `${stem}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", serial(),
      "-days", "365", "-sha256", "-extfile", `${stem}.ext`, "-out", `${stem}.crt`],
    dir,
  );
}

/** Escapes a value for an openssl -subj string. */
function subjectPart(key: string, value: string): string {
  return `/${key}=${value.replace(/[/\\=+,]/g, (c) => `\\${c}`)}`;
}

/**
 * Certificates in dir, made once: a directory that already holds a complete set for the same
 * clients (`make run` keeps its state across restarts) is reused as it is, so kubeconfigs, the
 * service-account keys and tokens signed with them stay valid.
 */
export async function generatePki(dir: string, clients: ClientIdentity[]): Promise<Pki> {
  const marker = join(dir, "pki.done");
  const wanted = JSON.stringify(clients);
  const done = existsSync(marker) && (await readFile(marker, "utf8")) === wanted;
  if (!done) await makePki(dir, clients);
  await writeFile(marker, wanted);
  return pkiIn(dir);
}

async function makePki(dir: string, clients: ClientIdentity[]): Promise<void> {
  await ecKey(dir, "ca.key");
  await openssl(
    ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=omnivisor-local-ca", "-days", "365", "-sha256",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt"],
    dir,
  );
  const serverSans = [
    "IP:127.0.0.1", "IP:10.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
  ].join(",");
  const work: Promise<void>[] = [
    signedCert(dir, "apiserver", "/CN=kube-apiserver",
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${serverSans}\n`),
    // Service-account tokens are signed with RSA (what every Kubernetes client expects).
    (async () => {
      await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
      await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
    })(),
    ...clients.map((c) =>
      signedCert(dir, c.name, subjectPart("CN", c.user) + c.groups.map((g) => subjectPart("O", g)).join(""),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"),
    ),
  ];
  await Promise.all(work);
}

function pkiIn(dir: string): Pki {
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    serverCert: p("apiserver.crt"),
    serverKey: p("apiserver.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
    client: (name) => ({ cert: p(`${name}.crt`), key: p(`${name}.key`) }),
  };
}

/**
 * A serving certificate signed by the CA in `dir` (ca.crt / ca.key), for a server the API server
 * calls, e.g. the admission webhook: `sans` like ["IP:127.0.0.1", "DNS:localhost"].
 */
export async function servingCert(dir: string, stem: string, sans: string[]): Promise<{ cert: string; key: string; ca: string }> {
  await signedCert(dir, stem, subjectPart("CN", stem),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(",")}\n`);
  return { cert: join(dir, `${stem}.crt`), key: join(dir, `${stem}.key`), ca: join(dir, "ca.crt") };
}
