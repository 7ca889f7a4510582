// Scenario: a remote libvirt host reached over TLS (qemu+tls://), as production hosts are.
//   given  a private libvirtd listening with TLS and verifying client certificates against a CA
//   when   the driver connects with the CA pinned and a client certificate from the Host's Secret
//   then   it observes the host and runs a VM lifecycle over the encrypted connection
//   and    a client without a certificate, or one that trusts a different CA, is refused with a
//          terminal error that says it is about TLS (never retried forever, never a crash)
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorKind, type Credentials, type HostConnection } from "../../drivers/contract/index.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { generatePki } from "../../src/local/pki.ts";
import { freePort } from "../../src/local/ports.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";

const run = randomBytes(3).toString("hex");
const driver = new LibvirtDriver();
let daemon: PrivateLibvirtd;
let pkiDir: string;
let otherPkiDir: string;
let host: HostConnection;
let credentials: Credentials;
let otherCaPem: string;
const diskDir = join(tmpdir(), `omni-lv-tls-${run}`);

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(diskDir, { recursive: true });
  pkiDir = await mkdtemp(join(tmpdir(), "omni-lv-tls-pki-"));
  otherPkiDir = await mkdtemp(join(tmpdir(), "omni-lv-tls-other-"));
  const [pki, other] = await Promise.all([
    generatePki(pkiDir, [{ name: "client", user: "omnivisor-operator", groups: [] }]),
    generatePki(otherPkiDir, []),
  ]);
  const port = await freePort();
  daemon = await startPrivateLibvirtd(`tls-${run}`, {
    tls: { address: "127.0.0.1", port, certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caCert },
  });
  const client = pki.client("client");
  host = { endpoint: `qemu+tls://127.0.0.1:${port}/system`, tls: { caPem: await readFile(pki.caCert, "utf8") }, libvirt: { virtType: "qemu" } };
  credentials = { certPem: await readFile(client.cert, "utf8"), keyPem: await readFile(client.key, "utf8") };
  otherCaPem = await readFile(other.caCert, "utf8");
});

afterAll(async () => {
  await daemon?.stop();
  await Promise.all([pkiDir, otherPkiDir, diskDir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
});

describe("libvirt driver over TLS (qemu+tls://)", () => {
  it("observes the host and runs a VM lifecycle with the CA pinned and a client certificate", async () => {
    const session = await driver.connect(host, credentials, AbortSignal.timeout(15_000));
    const identity = { uid: randomUUID(), name: `lv-tls-${run}`, namespace: "tls", kubeName: "vm" };
    try {
      const observed = await session.observeHost();
      expect(observed.reachable).toBe(true);
      expect(observed.capacity.cpus).toBeGreaterThan(0);
      await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], power: { state: "Running" } });
      expect(await session.observeVm(identity)).toMatchObject({ power: "Running", managed: true, identity: { uid: identity.uid } });
      await session.setPower(identity, { state: "Stopped", mode: "Hard" });
      expect((await session.observeVm(identity))?.power).toBe("Stopped");
    } finally {
      await session.deleteVm(identity);
      await session.close();
    }
  });

  it("without a client certificate, says so with a terminal error", async () => {
    const err = await driver.connect(host, undefined, AbortSignal.timeout(15_000)).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(errorKind(err)).toBe("terminal");
    expect(String((err as Error).message)).toMatch(/uses TLS, which needs a client certificate and key/);
  });

  it("refuses a server whose certificate the pinned CA did not sign (terminal, not retried)", async () => {
    const err = await driver.connect({ ...host, tls: { caPem: otherCaPem } }, credentials, AbortSignal.timeout(15_000)).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(errorKind(err)).toBe("terminal");
    expect(String((err as Error).message)).toMatch(/certificate|tls/i);
  });
});
