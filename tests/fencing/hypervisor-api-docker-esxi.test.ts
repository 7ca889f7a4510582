// HypervisorAPI fencing on Docker (a private dockerd) and ESXi (a private vcsim): every managed VM
// is stopped hard through the host's own API and the fence counts only once a listing shows none
// running; what Omnivisor does not manage (a container without its labels, vcsim's own VMs) is
// left alone. Valid only while that API answers: with the daemon / simulator gone, FenceFailed.
// Private instances only: a fence stops EVERY managed VM of its host, and the shared dockerd and
// vcsim run other tests' VMs.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vmIdentity, type Driver, type HostConnection, type Session, type VmSpec } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { fence, type FenceDeps } from "../../controllers/ha-policy/fence.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { requireDocker, requireVcsim } from "../harness/services.ts";
import { anyCredentials, govc, pinnedHost, PrivateVcsim } from "../drivers/esxi-vcsim.ts";

const run = randomBytes(3).toString("hex");

interface Ground {
  driver: Driver;
  host: HostConnection;
  credentials?: typeof anyCredentials;
  spec: VmSpec;
  /** Makes a VM Omnivisor does not manage, running; returns its name. */
  unmanaged(): Promise<string>;
  /** Whether the unmanaged VM still runs, asked without the driver. */
  stillRuns(name: string): Promise<boolean>;
  /** The host's API stops answering. */
  kill(): Promise<void>;
}

function fencing(kind: "docker" | "esxi", ground: () => Ground): void {
  let session: Session;
  const hostObject = (): HostObject => ({ metadata: { name: `fence-${kind}-${run}` }, spec: { datacenter: "dc", driver: kind, endpoint: ground().host.endpoint, fencing: { method: "HypervisorAPI", timeoutSeconds: 20 } } }) as unknown as HostObject;
  const deps = (): FenceDeps => ({ secrets: undefined as never, credentialsNamespaces: [], connect: (_h, signal) => ground().driver.connect(ground().host, ground().credentials, signal) });

  beforeAll(async () => {
    session = await ground().driver.connect(ground().host, ground().credentials, AbortSignal.timeout(20_000));
  }, 30_000);
  afterAll(async () => {
    await session?.close().catch(() => undefined);
  });

  it("stops every managed VM and confirms by listing; leaves an unmanaged one running", async () => {
    for (const name of ["a", "b"]) await session.createVm(vmIdentity({ uid: randomUUID(), namespace: `f-${run}`, name }), { ...ground().spec, power: { state: "Running" } });
    const unmanaged = await ground().unmanaged();
    expect((await session.listVms()).filter((v) => v.managed && v.power === "Running")).toHaveLength(2);

    const result = await fence(hostObject(), deps());
    expect(result).toMatchObject({ confirmed: true });
    expect(result.message).toMatch(/2 managed VM\(s\) destroyed/);
    const after = await session.listVms();
    expect(after.filter((v) => v.managed && v.power !== "Stopped")).toEqual([]);
    expect(await ground().stillRuns(unmanaged)).toBe(true);
  }, 60_000);

  it("is not confirmed once the host's API does not answer", async () => {
    await ground().kill();
    const result = await fence(hostObject(), deps());
    expect(result).toMatchObject({ confirmed: false, reason: "FenceFailed" });
    expect(result.message).toMatch(/valid only while that API answers/);
  }, 60_000);
}

describe("HypervisorAPI fencing on Docker (a private dockerd)", () => {
  let dockerd: PrivateDockerd;
  let killed = false;
  beforeAll(async () => {
    await requireDocker();
    dockerd = await PrivateDockerd.start();
  }, 60_000);
  afterAll(async () => {
    await dockerd?.stop();
  }, 60_000);
  fencing("docker", () => ({
    driver: new DockerDriver(),
    host: { endpoint: dockerd.endpoint },
    spec: { cpus: 0.5, memoryMiB: 32, disks: [{ name: "root", image: "busybox:local" }], networks: [], container: { command: ["sleep", "2147483647"] } },
    unmanaged: async () => {
      const name = `unmanaged-${run}`;
      await dockerd.docker("run", "-d", "--name", name, "busybox:local", "sleep", "2147483647");
      return name;
    },
    stillRuns: async (name) => (await dockerd.docker("inspect", "-f", "{{.State.Running}}", name)) === "true",
    kill: async () => {
      if (!killed) await dockerd.crash();
      killed = true;
    },
  }));
});

describe("HypervisorAPI fencing on ESXi (a private vcsim)", () => {
  let vcsim: PrivateVcsim;
  let host: HostConnection;
  beforeAll(async () => {
    await requireVcsim();
    vcsim = await PrivateVcsim.start();
    host = await pinnedHost(vcsim.url);
  }, 60_000);
  afterAll(async () => {
    await vcsim?.kill();
  });
  fencing("esxi", () => ({
    driver: new EsxiDriver(),
    host,
    credentials: anyCredentials,
    spec: { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [] },
    // vcsim's own inventory VM, powered on: Omnivisor does not manage it
    unmanaged: () => Promise.resolve("ha-host_VM0"),
    stillRuns: async (name) => /poweredOn/.test(await govc(vcsim.url, ["vm.info", name])),
    kill: () => vcsim.kill(),
  }));
});
