// Scenario: a Docker host reached over TCP with mutual TLS, as a remote host is (a private dockerd
// with a TLS listener on loopback and certificates from a throw-away CA). The right certificates
// give a working session; a missing client certificate or an unknown CA is a terminal error
// (reason "tls") — a configuration problem, not something to retry.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorKind, type Credentials, type HostConnection } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { requireDocker } from "../harness/services.ts";

describe("a Docker host over TCP with mutual TLS", () => {
  const driver = new DockerDriver();
  let dockerd: PrivateDockerd;
  let host: HostConnection;
  let credentials: Credentials;

  beforeAll(async () => {
    await requireDocker();
    dockerd = await PrivateDockerd.start({ tls: true });
    const { pki, port } = dockerd.tls!;
    const client = pki.client("client");
    host = { endpoint: `tcp://127.0.0.1:${port}`, tls: { caPem: readFileSync(pki.caCert, "utf8") } };
    credentials = { certPem: readFileSync(client.cert, "utf8"), keyPem: readFileSync(client.key, "utf8") };
  });

  afterAll(async () => {
    await dockerd?.stop();
  });

  it("given the CA and a client certificate, when the driver connects, then it observes the host and runs a VM", async () => {
    const session = await driver.connect(host, credentials, AbortSignal.timeout(10_000));
    try {
      const observed = await session.observeHost();
      expect(observed).toMatchObject({ reachable: true, version: expect.stringMatching(/\d/) as unknown });
      expect(observed.usage, "no host usage for a remote daemon").toBeUndefined();
      const identity = { uid: randomUUID(), name: "tls-vm" };
      const vm = await session.createVm(identity, { cpus: 0.5, memoryMiB: 32, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] }, power: { state: "Running" } });
      expect(vm).toMatchObject({ managed: true, power: "Running" });
      await session.deleteVm(identity);
    } finally {
      await session.close();
    }
  });

  const refused: Record<string, () => [HostConnection, Credentials | undefined]> = {
    "without a client certificate": () => [host, undefined],
    "without the host's CA": () => [{ endpoint: host.endpoint, tls: {} }, credentials],
  };
  for (const [reason, args] of Object.entries(refused)) {
    it(`given a connection ${reason}, when the driver connects, then it fails as terminal (tls)`, async () => {
      const [h, c] = args();
      const err: unknown = await driver.connect(h, c, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(errorKind(err)).toBe("terminal");
      expect((err as { reason?: string }).reason).toBe("tls");
    });
  }
});
