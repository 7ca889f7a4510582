// HypervisorAPI fencing against a real libvirtd (a private daemon, its test driver): the managed
// VMs are destroyed through the host's own API and the fence counts only once a listing shows
// none of them running; a VM Omnivisor does not manage is not ours to touch. Valid only while that
// API answers: with the daemon gone the fence is not confirmed (the failover would be Blocked).
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vmIdentity, type Session } from "../../drivers/contract/index.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { fence } from "../../controllers/ha-policy/fence.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { Virsh } from "../drivers/libvirt-virsh.ts";

const execute = promisify(execFile);
const run = randomBytes(3).toString("hex");
const driver = new LibvirtDriver();
let daemon: PrivateLibvirtd;
let session: Session;

const host = (): HostObject => ({ metadata: { name: `fence-${run}` }, spec: { datacenter: "dc", driver: "libvirt", endpoint: daemon.testUri, fencing: { method: "HypervisorAPI", timeoutSeconds: 10 } } }) as unknown as HostObject;
const deps = { secrets: undefined as never, credentialsNamespaces: [], connect: (h: HostObject, signal: AbortSignal) => driver.connect({ endpoint: h.spec.endpoint }, undefined, signal) };

beforeAll(async () => {
  await requireLibvirt();
  daemon = await startPrivateLibvirtd(`fence-${run}`);
  // one connection stays open: the test driver's state lives while a client holds it
  session = await driver.connect({ endpoint: daemon.testUri }, undefined, AbortSignal.timeout(15_000));
}, 60_000);

afterAll(async () => {
  await session?.close().catch(() => undefined);
  await daemon?.stop();
});

describe("HypervisorAPI fencing", () => {
  it("destroys every managed VM and confirms by listing; leaves an unmanaged one alone", async () => {
    for (const name of ["a", "b", "c"]) {
      const identity = vmIdentity({ uid: randomUUID(), namespace: `t-${run}`, name });
      await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [], networks: [], power: { state: "Running" } });
    }
    await new Virsh(daemon.testUri).runUnmanaged(`unmanaged-${run}`);
    const before = await session.listVms();
    expect(before.filter((v) => v.managed && v.power === "Running")).toHaveLength(3);

    const result = await fence(host(), deps);
    expect(result).toMatchObject({ confirmed: true });
    expect(result.message).toMatch(/3 managed VM\(s\) destroyed/);
    const after = await session.listVms();
    expect(after.filter((v) => v.managed && v.power === "Running")).toEqual([]);
    expect(after.find((v) => !v.managed)?.power).toBe("Running");
    const { stdout } = await execute("virsh", ["-q", "-c", daemon.testUri, "list", "--name", "--state-running"]);
    const running = stdout.trim().split("\n");
    expect(running).toContain(`unmanaged-${run}`); // (and the test driver's own "test" domain)
    expect(running.filter((n) => n.startsWith(`t-${run}.`))).toEqual([]);
  }, 30_000);

  it("is not confirmed once the host's API does not answer", async () => {
    await daemon.kill();
    const result = await fence(host(), deps);
    expect(result).toMatchObject({ confirmed: false, reason: "FenceFailed" });
    expect(result.message).toMatch(/valid only while that API answers/);
    await daemon.restart();
  }, 30_000);
});
