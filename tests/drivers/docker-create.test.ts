// Scenarios: the Docker driver's createVm finds a VM's container by its uid label under any name
// (one label-filtered list, no name lookup first), so a container renamed outside Omnivisor is
// never created twice; and the power asked for at create time is where the container ends up.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identityKeys, type Session, type VmIdentity, type VmSpec } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { DockerCli } from "./docker-cli.ts";

const prefix = `cr-docker-${randomBytes(3).toString("hex")}`;
const cli = new DockerCli(dockerSocket);
const spec = (state: "Running" | "Paused" | "Stopped"): VmSpec => ({
  cpus: 0.5,
  memoryMiB: 32,
  disks: [{ name: "root", image: "busybox:local" }],
  container: { command: ["sleep", "2147483647"] },
  power: { state },
});
const identity = (label: string): VmIdentity => ({ uid: randomUUID(), name: `${prefix}-${label}`, namespace: "create", kubeName: label });
const withUid = async (uid: string): Promise<string[]> => (await cli.docker("ps", "-aq", "--no-trunc", "--filter", `label=${identityKeys.uid}=${uid}`)).split("\n").filter((l) => l !== "");

describe("the Docker driver creates a VM's container once, whatever it is called now", () => {
  let session: Session;

  beforeAll(async () => {
    await requireDocker();
    session = await new DockerDriver().connect({ endpoint: `unix://${dockerSocket}` }, undefined, AbortSignal.timeout(10_000));
  });

  afterAll(async () => {
    await session?.close();
    await cli.removePrefixed(prefix);
  });

  it("given a VM's container renamed outside Omnivisor, when createVm runs again for the same uid, then that container is returned and no second one is made", async () => {
    const vm = identity("renamed");
    const created = await session.createVm(vm, spec("Running"));
    await cli.docker("rename", created.externalId, `${prefix}-renamed-by-hand`);

    const again = await session.createVm(vm, spec("Running"));

    expect(again.externalId).toBe(created.externalId);
    expect(again.name).toBe(`${prefix}-renamed-by-hand`);
    expect(await withUid(vm.uid)).toEqual([created.externalId]);
  });

  it.each(["Running", "Paused", "Stopped"] as const)("given power %s at create, when createVm returns, then the container is in that state", async (state) => {
    const vm = identity(`power-${state.toLowerCase()}`);
    const created = await session.createVm(vm, spec(state));
    expect(created.power).toBe(state);
    expect((await session.observeVm(vm))?.power).toBe(state);
  });
});
