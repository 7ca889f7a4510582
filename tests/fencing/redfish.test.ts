// The Redfish fencing client against sushy-tools, the OpenStack Redfish emulator (a real BMC
// emulator from PyPI; fake driver, HTTPS with its own self-signed certificate, basic auth):
//   given  a system On
//   when   it is fenced (ForceOff)
//   then   the client returns only once the BMC itself reports PowerState Off (sushy lands the
//          change 1–11 s later: the client polled), and an independent read says Off;
//   given  a system already Off: confirmed without a reset;
//   given  a wrong password: refused, and the message never carries the password;
//   given  the BMC's certificate not trusted: refused; with its CA in the Host's tls: accepted;
//   and    through fence() a Host whose fencing Secret is read from the API server.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fence } from "../../controllers/ha-policy/fence.ts";
import { forceOff, powerState, systemPath } from "../../controllers/ha-policy/redfish.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { startRedfishEmulator, type RedfishEmulator } from "../harness/bmc-emulator.ts";
import { kubectl } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const ns = `fence-${randomBytes(3).toString("hex")}`;
let on: RedfishEmulator;
let off: RedfishEmulator;

/** What the BMC says, read without our client. */
async function curlPowerState(bmc: RedfishEmulator): Promise<string> {
  const { stdout } = await execute("curl", ["-sk", "-u", `${bmc.username}:${bmc.password}`, `${bmc.address}/redfish/v1/Systems/${bmc.systemId}`]);
  return (JSON.parse(stdout) as { PowerState: string }).PowerState;
}

const target = (bmc: RedfishEmulator, more: { password?: string; tls?: { insecureSkipVerify?: boolean; caPem?: string } } = {}) => ({
  address: bmc.address,
  username: bmc.username,
  password: more.password ?? bmc.password,
  tls: more.tls ?? { caPem: bmc.caPem },
});

beforeAll(async () => {
  [on, off] = await Promise.all([startRedfishEmulator(), startRedfishEmulator({ powerState: "Off" })]);
  await kubectl(admin, ["create", "namespace", ns]);
}, 60_000);

afterAll(async () => {
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  await Promise.all([on?.stop(), off?.stop()]);
});

describe("Redfish fencing against sushy-tools", () => {
  it("finds the only system, and fences it: confirmed only once the BMC reports Off", async () => {
    const signal = AbortSignal.timeout(30_000);
    expect(await systemPath(target(on), signal)).toBe(`/redfish/v1/Systems/${on.systemId}`);
    expect(await curlPowerState(on)).toBe("On");
    const { system, polls } = await forceOff(target(on), signal, 250);
    expect(system).toBe(`/redfish/v1/Systems/${on.systemId}`);
    expect(polls).toBeGreaterThan(1); // sushy's fake driver changes power 1–11 s after the reset
    expect(await curlPowerState(on)).toBe("Off");
  }, 40_000);

  it("confirms a system already Off without resetting it", async () => {
    const { polls } = await forceOff(target(off), AbortSignal.timeout(10_000));
    expect(polls).toBe(1);
  });

  it("is refused with a wrong password, and says so without the password", async () => {
    const wrong = `wrong-${randomBytes(6).toString("hex")}`;
    const err = await forceOff(target(off, { password: wrong }), AbortSignal.timeout(10_000)).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/refused the credentials \(HTTP 401\)/);
    expect(err?.message).not.toContain(wrong);
  });

  it("refuses a BMC whose certificate it cannot verify; trusts it with its CA or insecureSkipVerify", async () => {
    const untrusted = await powerState(target(off, { tls: {} }), `/redfish/v1/Systems/${off.systemId}`, AbortSignal.timeout(10_000)).then(() => undefined, (e: unknown) => e as Error);
    expect(untrusted?.message).toMatch(/self.signed|certificate/i);
    expect(await powerState(target(off, { tls: { insecureSkipVerify: true } }), `/redfish/v1/Systems/${off.systemId}`, AbortSignal.timeout(10_000))).toBe("Off");
  });

  it("fences a Host through fence(): credentials from its fencing Secret, confirmed, nothing secret in the message", async () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const kc = new KubeConfig();
    kc.loadFromFile(admin);
    const secrets = kc.makeApiClient(CoreV1Api);
    await secrets.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "bmc" }, data: { username: b64(off.username), password: b64(off.password) } } });
    const host = {
      metadata: { name: "kvm-1" },
      spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu+tcp://10.99.0.10/system", fencing: { method: "OutOfBand", timeoutSeconds: 20, outOfBand: { protocol: "Redfish", address: `${off.address}/redfish/v1/Systems/${off.systemId}`, credentialsSecretRef: { name: "bmc", namespace: ns }, tls: { insecureSkipVerify: false, caBundle: off.caPem } } } },
    } as unknown as HostObject;
    const connect = () => Promise.reject(new Error("not used by OutOfBand"));
    const result = await fence(host, { secrets, connect, credentialsNamespaces: [ns] });
    expect(result).toMatchObject({ confirmed: true });
    expect(result.message).not.toContain(off.password);
    const missing = await fence({ ...host, spec: { ...host.spec, fencing: { ...host.spec.fencing!, outOfBand: { ...host.spec.fencing!.outOfBand!, credentialsSecretRef: { name: "nope", namespace: ns } } } } }, { secrets, connect, credentialsNamespaces: [ns] });
    expect(missing).toMatchObject({ confirmed: false, reason: "FenceCredentialsUnavailable" });
  }, 30_000);

  it("refuses a fencing Secret outside the credentials namespaces, before reading it (ADR 0028)", async () => {
    // the Secret exists and is right: only where it lives makes the fence refused
    const kc = new KubeConfig();
    kc.loadFromFile(admin);
    const secrets = kc.makeApiClient(CoreV1Api);
    const host = {
      metadata: { name: "kvm-2" },
      spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu+tcp://10.99.0.11/system", fencing: { method: "OutOfBand", timeoutSeconds: 20, outOfBand: { protocol: "Redfish", address: off.address, credentialsSecretRef: { name: "bmc", namespace: ns }, tls: { insecureSkipVerify: false, caBundle: off.caPem } } } },
    } as unknown as HostObject;
    const connect = () => Promise.reject(new Error("not used by OutOfBand"));
    const refused = await fence(host, { secrets, connect, credentialsNamespaces: ["omnivisor-system"] });
    expect(refused).toMatchObject({ confirmed: false, reason: "FenceCredentialsRefused" });
    expect(refused.message).toBe(`the fencing Secret ${ns}/bmc is in namespace ${ns}; this operator reads credentials only from omnivisor-system (--credentials-namespaces)`);
  }, 30_000);
});
