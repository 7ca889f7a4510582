import { describe, expect, it } from "vitest";
import { CredentialsError } from "./sessions.ts";
import { credentialsFromSecret, hostConnection, trustFromSecret, withSecretTrust } from "./connection.ts";
import type { HostObject } from "./kinds.ts";
import { unreachable } from "./reachability.ts";
import { RetryableError, TerminalError } from "../../drivers/contract/index.ts";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("host connection", () => {
  it("maps spec TLS and the libvirt annotations to the driver's connection", () => {
    const host = {
      metadata: { name: "kvm", annotations: { "libvirt.omnivisor.io/virt-type": "qemu", "libvirt.omnivisor.io/storage-pool": "fast", "libvirt.omnivisor.io/connections": "2", "libvirt.omnivisor.io/shared-storage": "nfs-rack-1", "omnivisor.io/default-network": "lan" } },
      spec: { driver: "libvirt", endpoint: "qemu+tls://kvm/system", tls: { insecureSkipVerify: false, caBundle: "PEM", serverName: "kvm.example" } },
    } as unknown as HostObject;
    expect(hostConnection(host)).toEqual({
      endpoint: "qemu+tls://kvm/system",
      tls: { caPem: "PEM", serverName: "kvm.example" },
      libvirt: { virtType: "qemu", storagePool: "fast", connections: 2, sharedStorage: "nfs-rack-1", defaultNetwork: "lan" },
    });
  });

  it.each(["0", "17", "2.5", "many", ""])("leaves connections %j to the driver's default (a whole number 1–16 only)", (value) => {
    const host = { metadata: { name: "kvm", annotations: { "libvirt.omnivisor.io/connections": value } }, spec: { driver: "libvirt", endpoint: "qemu:///system" } } as unknown as HostObject;
    expect(hostConnection(host).libvirt).toEqual({});
  });

  it("reads basic-auth, token and kubernetes.io/tls keys from a Secret", () => {
    expect(credentialsFromSecret({ username: b64("root"), password: b64("pw"), "tls.crt": b64("CERT"), "tls.key": b64("KEY") })).toEqual({
      username: "root",
      password: "pw",
      certPem: "CERT",
      keyPem: "KEY",
    });
    expect(credentialsFromSecret(undefined)).toEqual({});
  });
});

describe("why a host is unreachable", () => {
  const cases: Record<string, { err: unknown; reason: string }> = {
    "rejected credentials": { err: new TerminalError("authentication failed", { reason: "auth-failed" }), reason: "AuthenticationFailed" },
    "bad endpoint": { err: new TerminalError("not a libvirt URI", { reason: "bad-endpoint" }), reason: "BadEndpoint" },
    "refused connection": { err: new RetryableError("ECONNREFUSED", { reason: "connection-refused" }), reason: "Unreachable" },
    "missing Secret": { err: new CredentialsError("credentials Secret ns/x not found"), reason: "CredentialsUnavailable" },
    "untranslated error": { err: new Error("boom"), reason: "Unreachable" },
    "other terminal error": { err: new TerminalError("nope", { reason: "something-new" }), reason: "ConnectFailed" },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`${name} → ${c.reason}, naming the endpoint`, () => {
      const got = unreachable(c.err, "qemu+tcp://h/system");
      expect(got.reason).toBe(c.reason);
      if (!(c.err instanceof CredentialsError)) expect(got.message).toContain("qemu+tcp://h/system");
    });
  }

  it("TLS trust may come from the Secret (ca.crt, thumbprint); the Host's spec.tls wins when it names its own, and Secret trust is never skipped", () => {
    const b64 = (v: string) => Buffer.from(v).toString("base64");
    const trust = trustFromSecret({ "ca.crt": b64("CA PEM\n"), thumbprint: b64("AA:BB") });
    expect(trust).toEqual({ caPem: "CA PEM", thumbprint: "AA:BB" });
    expect(trustFromSecret({ password: b64("x") })).toEqual({});
    expect(withSecretTrust({ endpoint: "https://esx" }, { thumbprint: "AA:BB" })).toEqual({ endpoint: "https://esx", tls: { thumbprint: "AA:BB" } });
    expect(withSecretTrust({ endpoint: "https://esx", tls: { thumbprint: "CC:DD" } }, { thumbprint: "AA:BB" }).tls).toEqual({ thumbprint: "CC:DD" });
    expect(withSecretTrust({ endpoint: "https://esx", tls: { insecureSkipVerify: true, serverName: "esx1" } }, { caPem: "CA" }).tls).toEqual({ caPem: "CA", serverName: "esx1" });
    expect(withSecretTrust({ endpoint: "https://esx" }, {})).toEqual({ endpoint: "https://esx" });
  });
});
