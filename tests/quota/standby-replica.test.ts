// Scenario: the webhook is served by every replica, leader or not. Two managers share one leader
// Lease; the API server is pointed at the one that does not lead. It is ready (/readyz) although
// it reconciles nothing, and it admits and refuses by the quota, while the leader recounts.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { apply } from "../lifecycle/fixtures.ts";
import { createAtOnce, quota, quotaScenario, quotaUntil, readyz, startManagerProcess, storedVms, vm, type QuotaScenario } from "./fixtures.ts";
import type { Operator } from "../lifecycle/fixtures.ts";

const namespace = "quota-standby";
let s: QuotaScenario;
let leader: Operator | undefined;
let standby: Operator | undefined;

const managerArgs = (identity: string, port: number): string[] => [
  "--kubeconfig", inject("operatorKubeconfig"), "--identity", identity, "--namespace", namespace, "--lease-name", "quota-standby", "--watch-namespace", namespace,
  "--metrics-port", "0", "--controllers", "vdcquota", "--webhook-port", String(port), "--webhook-host", "127.0.0.1",
  "--webhook-cert-file", s.cert.cert, "--webhook-key-file", s.cert.key, "--retry-period", "1",
];

beforeAll(async () => {
  s = await quotaScenario(namespace, { admin: inject("kubeconfig"), operator: inject("operatorKubeconfig"), controlPlaneDir: inject("controlPlaneDir") });
  // the leader's webhook listens elsewhere: the API server calls only the standby's
  leader = startManagerProcess(managerArgs("leader", await freePort()));
  await waitFor("the first manager leading", () => (leader!.output.join("").includes('"workers started"') ? true : undefined), { timeoutMs: 60_000, onTimeout: () => leader!.output.join("").slice(-2000) });
  standby = startManagerProcess(managerArgs("standby", s.port));
  await waitFor("the standby's /readyz", () => readyz(standby!), { timeoutMs: 60_000, intervalMs: 200, onTimeout: () => standby!.output.join("").slice(-2000) });
}, 120_000);

afterAll(async () => {
  await s?.end();
  await standby?.stop();
  await leader?.stop();
});

describe("the webhook on a replica that does not lead", () => {
  it("is ready and admits exactly by the quota the leader recounts", async () => {
    expect(standby!.output.join(""), "the standby runs no controller").not.toContain('"workers started"');
    await apply(s.admin, quota(namespace, "one", { virtualMachines: 1 }));
    await quotaUntil(s.admin, namespace, "one", "the leader counted the quota", (q) => q.used?.virtualMachines === 0);
    const outcomes = await createAtOnce(s.admin, ["vm-a", "vm-b", "vm-c"].map((name) => ({ name, body: vm(namespace, name) })));
    expect(outcomes.filter((o) => o.code === 0)).toHaveLength(1);
    for (const o of outcomes.filter((o) => o.code !== 0)) expect(o.stderr).toContain(`namespace ${namespace} would use 2 VMs of 1 (VDCQuota one)`);
    expect(await storedVms(s.admin, namespace)).toHaveLength(1);
    const settled = await quotaUntil(s.admin, namespace, "one", "the leader's recount settled", (q) => q.charges === undefined && q.used?.virtualMachines === 1);
    expect(settled.used?.virtualMachines).toBe(1);
  }, 120_000);
});
