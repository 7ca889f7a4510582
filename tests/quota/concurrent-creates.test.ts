// Scenario: a tenant's quota holds exactly when 50 users create VMs at the same moment. Each
// create is its own `kubectl create -f` process, all spawned at once, through the real API server
// calling the manager's real webhook over HTTPS. Exactly the limit is admitted, every other create
// is refused saying what and how much, and status.used matches what is stored afterwards. The VMs
// need no hypervisor: no VM controller runs here, so 50 creates cost only admission.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { kubectl, apply } from "../lifecycle/fixtures.ts";
import { createAtOnce, quota, quotaScenario, quotaUntil, storedVms, vm, webhookInForce, type QuotaScenario } from "./fixtures.ts";

const namespace = "quota-races";
let s: QuotaScenario;

beforeAll(async () => {
  s = await quotaScenario(namespace, { admin: inject("kubeconfig"), operator: inject("operatorKubeconfig"), controlPlaneDir: inject("controlPlaneDir") });
  await s.startManager();
  await webhookInForce(s.admin, namespace);
});

afterAll(async () => {
  await s?.end();
});

async function rounds(quotaName: string, hard: Record<string, number>, cpus: number, refusal: string): Promise<void> {
  await apply(s.admin, quota(namespace, quotaName, hard));
  await quotaUntil(s.admin, namespace, quotaName, "the quota counted", (q) => q.used?.virtualMachines === 0);
  for (let round = 1; round <= 5; round++) {
    const outcomes = await createAtOnce(s.admin, Array.from({ length: 50 }, (_, i) => ({ name: `r${round}-vm-${i}`, body: vm(namespace, `r${round}-vm-${i}`, cpus) })));
    const admitted = outcomes.filter((o) => o.code === 0);
    const refused = outcomes.filter((o) => o.code !== 0);
    expect(admitted, `round ${round}: admitted`).toHaveLength(10);
    expect(refused, `round ${round}: refused`).toHaveLength(40);
    for (const r of refused) expect(r.stderr, `round ${round}: ${r.name}`).toContain(`admission webhook "vdcquota.omnivisor.io" denied the request: ${refusal}`);
    expect(await storedVms(s.admin, namespace), `round ${round}: stored`).toEqual(admitted.map((o) => o.name).sort());
    const status = await quotaUntil(s.admin, namespace, quotaName, "the recount to settle on the stored VMs", (q) => q.charges === undefined);
    expect(status.used, `round ${round}: status.used`).toMatchObject({ virtualMachines: 10, cpus: 10 * cpus });
    await kubectl(s.admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", namespace, "--wait=true"]);
    await quotaUntil(s.admin, namespace, quotaName, "usage released by the deletes", (q) => q.used?.virtualMachines === 0);
  }
  // at rest: Ready, and no write while nothing changes (the recount runs, finds the same, writes nothing)
  const version = async (): Promise<string> => kubectl(s.admin, ["get", "vdcquota", quotaName, "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}"]);
  const ready = await kubectl(s.admin, ["get", "vdcquota", quotaName, "-n", namespace, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}`]);
  expect(ready).toBe("True/Counted");
  const before = await version();
  await apply(s.admin, vm(namespace, "unrelated-touch", cpus)); // a change that wakes the recount…
  await kubectl(s.admin, ["delete", "virtualmachine.omnivisor.io", "unrelated-touch", "-n", namespace, "--wait=true"]); // …and its undoing
  // at rest once the webhook has given back the room it reserved (idle for 10 s, ADR 0049)
  await quotaUntil(s.admin, namespace, quotaName, "back to nothing used or reserved", (q) => q.used?.virtualMachines === 0 && q.charges === undefined && q.reservations === undefined);
  const settledAt = await version();
  await new Promise((r) => setTimeout(r, 3_000)); // three recount intervals
  expect(await version(), "no write at rest").toBe(settledAt);
  expect(before).not.toBe(settledAt);
  await kubectl(s.admin, ["delete", "vdcquota", quotaName, "-n", namespace, "--wait=true"]);
}

describe("50 concurrent creates against a quota", () => {
  it("a limit of 10 VMs admits exactly 10 of 50, five rounds in a row", async () => {
    await rounds("ten-vms", { virtualMachines: 10 }, 1, `namespace ${namespace} would use 11 VMs of 10 (VDCQuota ten-vms)`);
  }, 400_000);

  it("a limit of 20 vCPUs admits exactly 10 VMs of 2 vCPUs out of 50, five rounds in a row", async () => {
    await rounds("twenty-cpus", { cpus: 20 }, 2, `namespace ${namespace} would use 22 vCPUs of 20 (VDCQuota twenty-cpus)`);
  }, 400_000);
});
