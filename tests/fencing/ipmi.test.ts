// The IPMI fencing client against virtualbmc, a real IPMI v2.0 BMC emulator from PyPI, fronting a
// domain of a private libvirtd (its test driver: the domain's power is libvirt's, read with virsh):
//   given  the domain running
//   when   it is fenced (chassis power off over lanplus)
//   then   the client returns only once the BMC reports the chassis off, and libvirt says shut off;
//   given  the chassis already off: confirmed without a power off;
//   given  a wrong password, or no BMC at the address: an error saying so, never the password;
//   and    ipmitool got the password from its environment, never on its command line;
//   and    through fence(): a Host whose fencing Secret is read from the API server is confirmed;
//          a wrong password or an unreachable BMC is FenceFailed (the failover stays Blocked).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Session } from "../../drivers/contract/index.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { fence } from "../../controllers/ha-policy/fence.ts";
import { chassisPower, chassisPowerOff } from "../../controllers/ha-policy/ipmi.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { freePort } from "../../src/local/ports.ts";
import { startIpmiEmulator, type IpmiEmulator } from "../harness/bmc-emulator.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { kubectl } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `ipmi-${run}`;
let daemon: PrivateLibvirtd;
let session: Session;
let bmc: IpmiEmulator;
let shim: string;
const originalPath = process.env["PATH"];

const domstate = async (): Promise<string> => (await execute("virsh", ["-c", daemon.testUri, "domstate", "test"])).stdout.trim();
const target = (password?: string) => ({ address: bmc.address, username: bmc.username, password: password ?? bmc.password });

beforeAll(async () => {
  await requireLibvirt();
  daemon = await startPrivateLibvirtd(`ipmi-${run}`);
  // one connection stays open: the test driver's state (the domain "test") lives while a client holds it
  session = await new LibvirtDriver().connect({ endpoint: daemon.testUri }, undefined, AbortSignal.timeout(15_000));
  bmc = await startIpmiEmulator({ libvirtUri: daemon.testUri, domain: "test" });
  // ipmitool behind a shim that writes down its command line and whether IPMI_PASSWORD was set
  shim = await mkdtemp(join(tmpdir(), "omni-ipmitool-"));
  const real = (await execute("sh", ["-c", "command -v ipmitool"])).stdout.trim();
  await writeFile(join(shim, "ipmitool"), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(shim, "argv")}\n[ -n "$IPMI_PASSWORD" ] && echo env >> ${join(shim, "env")}\nexec ${real} "$@"\n`);
  await chmod(join(shim, "ipmitool"), 0o755);
  process.env["PATH"] = `${shim}:${originalPath ?? ""}`;
  await kubectl(admin, ["create", "namespace", ns]);
}, 90_000);

afterAll(async () => {
  process.env["PATH"] = originalPath;
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  await bmc?.stop();
  await session?.close().catch(() => undefined);
  await daemon?.stop();
  if (shim) await rm(shim, { recursive: true, force: true });
});

describe("IPMI fencing against virtualbmc", () => {
  it("powers the chassis off and returns once the BMC reports it off; libvirt agrees", async () => {
    expect(await domstate()).toBe("running");
    expect(await chassisPower(target(), AbortSignal.timeout(10_000))).toBe("on");
    const { polls } = await chassisPowerOff(target(), AbortSignal.timeout(20_000));
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(await domstate()).toBe("shut off");
    expect(await chassisPower(target(), AbortSignal.timeout(10_000))).toBe("off");
  }, 30_000);

  it("confirms a chassis already off without powering it off again", async () => {
    const before = (await readFile(join(shim, "argv"), "utf8")).split("\n").filter((l) => l.endsWith("chassis power off")).length;
    expect(await chassisPowerOff(target(), AbortSignal.timeout(10_000))).toEqual({ polls: 1 });
    const after = (await readFile(join(shim, "argv"), "utf8")).split("\n").filter((l) => l.endsWith("chassis power off")).length;
    expect(after).toBe(before);
  }, 20_000);

  it("says why with a wrong password or no BMC, never the password", async () => {
    const wrong = `wrong-${randomBytes(6).toString("hex")}`;
    const refused = await chassisPowerOff(target(wrong), AbortSignal.timeout(10_000)).then(() => undefined, (e: unknown) => e as Error);
    expect(refused?.message).toMatch(/Unable to establish IPMI v2 \/ RMCP\+ session.*unreachable, or it refused the credentials/);
    expect(refused?.message).not.toContain(wrong);
    const nobody = await chassisPowerOff({ ...target(), address: `127.0.0.1:${await freePort()}` }, AbortSignal.timeout(15_000)).then(() => undefined, (e: unknown) => e as Error);
    expect(nobody?.message).toMatch(/ipmitool chassis power status at 127\.0\.0\.1:\d+: /);
  }, 40_000);

  it("hands ipmitool the password in its environment, never on its command line", async () => {
    const argv = await readFile(join(shim, "argv"), "utf8");
    const env = await readFile(join(shim, "env"), "utf8");
    const calls = argv.split("\n").filter(Boolean);
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(env.split("\n").filter(Boolean)).toHaveLength(calls.length);
    expect(argv).not.toContain(bmc.password);
    for (const c of calls) expect(c).toMatch(/^-I lanplus -H 127\.0\.0\.1 -p \d+ -U fence -E /);
  });

  it("fences a Host through fence(): confirmed with the Secret's credentials; FenceFailed with a wrong one or no BMC", async () => {
    await execute("virsh", ["-c", daemon.testUri, "start", "test"]);
    expect(await chassisPower(target(), AbortSignal.timeout(10_000))).toBe("on");
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const kc = new KubeConfig();
    kc.loadFromFile(admin);
    const secrets = kc.makeApiClient(CoreV1Api);
    await secrets.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "bmc" }, data: { username: b64(bmc.username), password: b64(bmc.password) } } });
    await secrets.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "wrong" }, data: { username: b64(bmc.username), password: b64("not-it") } } });
    const host = (secret: string, address = bmc.address): HostObject =>
      ({ metadata: { name: "kvm-ipmi" }, spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu+tcp://10.99.0.12/system", fencing: { method: "OutOfBand", timeoutSeconds: 10, outOfBand: { protocol: "IPMI", address, credentialsSecretRef: { name: secret, namespace: ns } } } } }) as unknown as HostObject;
    const deps = { secrets, connect: () => Promise.reject(new Error("not used by OutOfBand")), credentialsNamespaces: [ns] };

    const wrong = await fence(host("wrong"), deps);
    expect(wrong).toMatchObject({ confirmed: false, reason: "FenceFailed" });
    expect(wrong.message).toMatch(/IPMI fence of host kvm-ipmi failed: .*refused the credentials/);
    const unreachable = await fence(host("bmc", `127.0.0.1:${await freePort()}`), deps);
    expect(unreachable).toMatchObject({ confirmed: false, reason: "FenceFailed" });
    expect(await domstate()).toBe("running"); // neither touched the host

    const result = await fence(host("bmc"), deps);
    expect(result).toMatchObject({ confirmed: true });
    expect(result.message).toMatch(/reports the chassis off after power off \(IPMI\)/);
    expect(result.message).not.toContain(bmc.password);
    expect(await domstate()).toBe("shut off");
  }, 60_000);
});
