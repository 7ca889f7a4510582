// Scenario: a per-driver limit for VMs whose spec names no driver is applied where the driver
// becomes known — at placement. The VirtualMachine controller leaves a VM that would go over the
// limit Pending, Scheduled=False naming the quota and how much; once the limit allows it, the VM
// is placed on its next look (every 10 s while Pending).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";
import { api, quota, quotaUntil } from "./fixtures.ts";

const admin = inject("kubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `qpd-${run}`;
const dc = `qpd-${run}-dc`;
const host = `qpd-${run}-docker`;
let operator: Operator | undefined;

const box = { apiVersion: api, kind: "VirtualMachine", metadata: { name: "box", namespace: ns }, spec: { cpus: 1, memory: "32Mi", powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "busybox:local" }], placement: { hosts: [host] } } };

beforeAll(async () => {
  await requireDocker();
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(admin,
    { apiVersion: api, kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "docker images" } } },
    { apiVersion: api, kind: "Host", metadata: { name: host, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "docker", endpoint: `unix://${dockerSocket}`, cpuOvercommit: 8 } },
    quota(ns, "containers", { virtualMachines: 10 }, [{ driver: "docker", hard: { virtualMachines: 0 } }]),
  );
  operator = startScopedOperator(inject("operatorKubeconfig"), ns);
  await waitFor("the Docker host Ready", async () => (condition(await getObject(admin, "hosts.omnivisor.io", host), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: () => warnings(operator) });
}, 120_000);

afterAll(async () => {
  await endScenario(admin, ns, `qpd-${run}`, operator);
});

describe("per-driver limits at placement", () => {
  it("a VM that names no driver stays Pending while the only host's driver is at its limit, then is placed when the limit allows", async () => {
    await apply(admin, box);
    const pending = await waitFor("box Pending, not scheduled for the quota", async () => {
      const vm = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return condition(vm, "Scheduled")?.reason === "QuotaExceeded" ? vm : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: () => warnings(operator) });
    expect(pending.status?.phase).toBe("Pending");
    expect(pending.status?.host).toBeUndefined();
    expect(condition(pending, "Scheduled")).toMatchObject({ status: "False", message: `namespace ${ns} would use 1 VM of 0 on docker (VDCQuota containers)` });

    await kubectl(admin, ["patch", "vdcquota", "containers", "-n", ns, "--type", "merge", "-p", JSON.stringify({ spec: { perDriver: [{ driver: "docker", hard: { virtualMachines: 1 } }] } })]);
    const placed = await waitFor("box placed on the Docker host", async () => {
      const vm = await getObject(admin, "virtualmachines.omnivisor.io", "box", ns);
      return vm?.status?.host === host ? vm : undefined;
    }, { timeoutMs: 40_000, intervalMs: 300, onTimeout: () => warnings(operator) });
    expect(condition(placed, "Scheduled")?.status).toBe("True");
    const counted = await quotaUntil(admin, ns, "containers", "the quota counting box on docker", (q) => q.usedPerDriver?.[0]?.used.virtualMachines === 1);
    expect(counted.usedPerDriver).toEqual([{ driver: "docker", used: expect.objectContaining({ virtualMachines: 1, cpus: 1 }) as unknown }]);
  }, 120_000);
});
