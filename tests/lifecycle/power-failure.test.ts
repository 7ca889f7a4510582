// Scenario: a power change the hypervisor refuses shows on the VM — Ready=False, reason
// PowerChangeFailed, the hypervisor's own words — and is retried until it works. The real dockerd
// refuses to start a container whose network was removed outside the operator; once the network is
// back, the VM runs without anyone touching it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "./fixtures.ts";

const run = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const id = randomBytes(3).toString("hex");
const ns = `pf-${id}`;
const dc = `pf-${id}-dc`;
const hostName = `pf-${id}-docker`;
const network = `pf-${id}-net`;
let operator: Operator | undefined;

const docker = (...args: string[]) => run("docker", ["-H", `unix://${dockerSocket}`, ...args]);
const vm = (powerState: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "app", namespace: ns },
  spec: { powerState, cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "busybox:local" }], networks: [{ name: "eth0", network }], placement: { hosts: [hostName] } },
});
const get = (): Promise<Obj | undefined> => getObject(admin, "virtualmachines.omnivisor.io", "app", ns);

beforeAll(async () => {
  await requireDocker();
  await docker("network", "create", network);
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: hostName, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "docker", endpoint: `unix://${dockerSocket}` } },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
});

afterAll(async () => {
  await endScenario(admin, ns, `pf-${id}`, operator);
  await docker("network", "rm", network).catch(() => undefined);
});

describe("a power change the hypervisor refuses", () => {
  it("given a stopped container whose network was removed outside, when the spec asks Running, then Ready=False PowerChangeFailed quotes the hypervisor, and once the network is back the VM runs on its own", async () => {
    await apply(admin, vm("Stopped"));
    await waitFor("the VM made and Stopped", async () => {
      const got = await get();
      return got?.status?.phase === "Stopped" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => warnings(operator) });

    await docker("network", "rm", network);
    await apply(admin, vm("Running"));
    const refused = await waitFor("Ready=False PowerChangeFailed", async () => {
      const got = await get();
      return condition(got, "Ready")?.reason === "PowerChangeFailed" ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => warnings(operator) });
    const ready = condition(refused, "Ready")!;
    expect(ready.status).toBe("False");
    expect(ready.message).toMatch(/Stopped → Running on host .* failed/);
    expect(ready.message, "the hypervisor's own words").toContain(network);

    await docker("network", "create", network);
    const healed = await waitFor("Running once the network is back", async () => {
      const got = await get();
      return got?.status?.phase === "Running" && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: () => warnings(operator) });
    expect(condition(healed, "Ready")?.reason).toBe("Running");
  });
});
