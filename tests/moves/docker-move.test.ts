// Scenario: moving a Docker VM (a container) between two Docker hosts — the shared dockerd and a
// private one — through VMMigrations (issue #20).
//   when  a live migration is asked for
//   then  it fails at once, saying Docker cannot live-migrate and what a cold move does instead;
//         the container runs on where it was
//   when  a cold move is asked for (live: false)
//   then  the container is made again from its image on the other host and started (a restart),
//         and is gone from the first; the VM's status names the new host
//   when  that host goes into maintenance with drainPolicy Shutdown, and back
//   then  the container is stopped and kept stopped (the host InMaintenance), then started again
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `dm-${run}`;
const dc = `dm-${run}-dc`;
const [hostA, hostB] = [`dm-${run}-a`, `dm-${run}-b`];
let dockerd: PrivateDockerd | undefined;
let operator: Operator | undefined;

const logs = (): string => warnings(operator);
const host = (name: string, endpoint: string) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "docker", endpoint, cpuOvercommit: 8 } });
const box = {
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "box", namespace: ns },
  spec: { cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "busybox:local" }], placement: { hosts: [hostA, hostB] } },
};
const migration = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VMMigration", metadata: { name, namespace: ns }, spec: { virtualMachine: "box", ...spec } });

/** Our container's state on a daemon ("running", "exited"), undefined where there is none. */
async function container(endpoint: string): Promise<string | undefined> {
  const { stdout } = await execute("docker", ["-H", endpoint, "ps", "-a", "--filter", `name=^${ns}\\.box$`, "--format", "{{.State}}"]);
  return stdout.trim() || undefined;
}

beforeAll(async () => {
  await requireDocker();
  dockerd = await PrivateDockerd.start();
  await kubectl(admin, ["create", "namespace", ns]);
  // host B first out of the way: the VM starts on A
  await apply(admin, { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "docker images" } } }, host(hostA, `unix://${dockerSocket}`), { ...box, spec: { ...box.spec, placement: { hosts: [hostA] } } });
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 120_000);

afterAll(async () => {
  await endScenario(admin, ns, `dm-${run}`, operator);
  await dockerd?.stop();
});

describe("moving a Docker VM", () => {
  it("when a live migration is asked for, then it fails at once with the reason, and the container runs on", async () => {
    await waitFor("box Running on host A", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return got?.status?.host === hostA && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    await apply(admin, host(hostB, dockerd!.endpoint), box);
    await waitFor("host B Ready", async () => (condition(await getObject(admin, "hosts.omnivisor.io", hostB), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });

    await apply(admin, migration("live", {}));
    const failed = await waitFor("VMMigration live Failed", async () => {
      const m = await getObject(admin, "vmmigrations.omnivisor.io", "live", ns);
      return m?.status?.phase === "Failed" ? m : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(condition(failed, "Ready")).toMatchObject({ status: "False", reason: "LiveMigrationUnsupported" });
    expect(condition(failed, "Ready")?.message).toContain("Docker cannot live-migrate a running container");
    expect(condition(failed, "Ready")?.message).toContain("spec.live: false");
    expect(failed.status?.["startedAt"], "no hypervisor job was started").toBeUndefined();
    expect(await container(`unix://${dockerSocket}`)).toBe("running");
    expect(await container(dockerd!.endpoint)).toBeUndefined();
  });

  it("when a cold move is asked for, then the container is made again on host B and started, and is gone from host A", async () => {
    await apply(admin, migration("cold", { live: false, targetHost: hostB }));
    const done = await waitFor("VMMigration cold Succeeded", async () => {
      const m = await getObject(admin, "vmmigrations.omnivisor.io", "cold", ns);
      if (m?.status?.phase === "Failed") throw new Error(`the cold move failed: ${condition(m, "Ready")?.message ?? "?"}`);
      return m?.status?.phase === "Succeeded" ? m : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(done.status).toMatchObject({ sourceHost: hostA, targetHost: hostB, mode: "Cold" });
    expect(await container(dockerd!.endpoint)).toBe("running");
    expect(await container(`unix://${dockerSocket}`)).toBeUndefined();
    const moved = await waitFor("box Ready on host B", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return got?.status?.host === hostB && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(moved.status?.powerState).toBe("Running");
  });

  it("when host B goes into maintenance with drainPolicy Shutdown, then the VM is kept stopped until it is back", async () => {
    await kubectl(admin, ["patch", "hosts.omnivisor.io", hostB, "--type=merge", "-p", '{"spec":{"maintenance":true,"drainPolicy":"Shutdown"}}']);
    const held = await waitFor("box stopped for the maintenance", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return condition(got, "Ready")?.reason === "HostInMaintenance" && got?.status?.powerState === "Stopped" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(condition(held, "Ready")?.message).toContain("starts again when the maintenance ends");
    expect(await container(dockerd!.endpoint)).toBe("exited");
    const inMaintenance = await waitFor("host B InMaintenance", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", hostB);
      return h?.status?.phase === "InMaintenance" ? h : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(condition(inMaintenance, "Maintenance")?.message).toBe("every VM on the host is stopped; it takes no new VMs");
    // it stays off: looked at again a few seconds later
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await container(dockerd!.endpoint)).toBe("exited");

    await kubectl(admin, ["patch", "hosts.omnivisor.io", hostB, "--type=merge", "-p", '{"spec":{"maintenance":false}}']);
    await waitFor("box Running again", async () => {
      const got = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return got?.status?.powerState === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(await container(dockerd!.endpoint)).toBe("running");
  });
});
