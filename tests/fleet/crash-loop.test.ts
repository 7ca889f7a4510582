// Scenario: a guest that keeps stopping on its own (here: destroyed again and again on its host,
// as a crashing guest would be) is started again at once the first times, then with a growing
// wait: Ready=False CrashLoopBackOff says so, with a BackOff Event, and the VM stays off until
// the wait is over — it is not started every second, forever.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { startSimulatedHost, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `cl-${run}`;
const hostName = `cl-${run}-host`;
let daemon: PrivateLibvirtd | undefined;
let uri = "";
let operator: Operator | undefined;

const logs = (): string => warnings(operator);
const state = async (): Promise<string> => (await execute("virsh", ["-c", uri, "domstate", `${ns}.crashy`])).stdout.trim();
const vm = () => getObject(admin, "virtualmachines.omnivisor.io", "crashy", ns);

beforeAll(async () => {
  await requireLibvirt();
  const host = await startSimulatedHost(`cl-${run}`);
  daemon = host;
  uri = host.tcpUri;
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: `cl-${run}-dc` }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: hostName, labels: scenarioLabel(ns) }, spec: { datacenter: `cl-${run}-dc`, driver: "libvirt", endpoint: uri } },
    {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: "crashy", namespace: ns },
      spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts: [hostName] } },
    },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
});

afterAll(async () => {
  await endScenario(admin, ns, `cl-${run}`, operator);
  await daemon?.stop();
});

describe("a guest that keeps stopping", () => {
  it("is started again at once twice, then waits with Ready=False CrashLoopBackOff, then starts again", async () => {
    await waitFor("crashy Running", async () => (condition(await vm(), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    for (let i = 1; i <= 2; i++) {
      await execute("virsh", ["-c", uri, "destroy", `${ns}.crashy`]);
      await waitFor(`started again after stop ${i}`, async () => ((await state()) === "running" ? true : undefined), { timeoutMs: 30_000, intervalMs: 100, onTimeout: logs });
    }
    await execute("virsh", ["-c", uri, "destroy", `${ns}.crashy`]);
    const held = await waitFor("CrashLoopBackOff", async () => {
      const got = await vm();
      return condition(got, "Ready")?.reason === "CrashLoopBackOff" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, onTimeout: logs });
    expect(condition(held, "Ready")).toMatchObject({ status: "False" });
    expect(condition(held, "Ready")?.message).toMatch(/stopped on its own 2 times in the last 10 minutes .*starting it again in \d+ s/);
    expect(await state(), "held off while it backs off").toBe("shut off");
    expect(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=crashy,reason=BackOff", "-o", "jsonpath={.items[*].message}"])).toContain("stopped on its own 2 times");
    // then the wait is over: it runs again, Ready
    await waitFor("Running again after the back-off", async () => ((await state()) === "running" && condition(await vm(), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
  });
});
