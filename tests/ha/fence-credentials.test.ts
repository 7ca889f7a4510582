// Scenario: a Host whose fencing Secret lives outside the operator's credentials namespaces
// (ADR 0028; the scenario's operator reads credentials only from its own namespace). The host is
// lost (nothing answers at its endpoint, no status watcher renews its heartbeat), so HA suspects
// it, its probe fails, and it must be fenced:
//   then   the fence is refused before the Secret is read: the failover is Blocked with reason
//          FenceCredentialsRefused saying where credentials may come from, an Event says so, the
//          policy is Ready=False FailoverBlocked, and the BMC never got a request.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { startTestBmc, type TestBmc } from "../harness/test-bmc.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `hac-${run}`;
const tenant = `${ns}-tenant`;
const login = { username: "fence", password: `pw-${randomBytes(6).toString("hex")}` };
let bmc: TestBmc;
let operator: Operator | undefined;
const logs = (): string => warnings(operator);

beforeAll(async () => {
  bmc = await startTestBmc(login);
  for (const n of [ns, tenant]) await kubectl(admin, ["create", "namespace", n]);
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  await apply(
    admin,
    // the right credentials, in the wrong namespace
    { apiVersion: "v1", kind: "Secret", metadata: { name: "bmc", namespace: tenant }, data: { username: b64(login.username), password: b64(login.password) } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: `${ns}-dc` }, spec: { imageStore: { location: "libvirt storage pools" } } },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HostPool", metadata: { name: `${ns}-pool` }, spec: { datacenter: `${ns}-dc`, hostSelector: { matchLabels: scenarioLabel(ns) } } },
    {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "Host",
      metadata: { name: `${ns}-lost`, labels: scenarioLabel(ns) },
      spec: {
        datacenter: `${ns}-dc`,
        pool: `${ns}-pool`,
        driver: "libvirt",
        endpoint: `qemu+tcp://127.0.0.1:${await freePort()}/system`, // nothing listens: the probe fails
        node: `${ns}-node`, // a node whose status watcher never runs: no heartbeat
        fencing: { method: "OutOfBand", outOfBand: { protocol: "Redfish", address: bmc.address, credentialsSecretRef: { name: "bmc", namespace: tenant } }, timeoutSeconds: 10 },
      },
    },
    { apiVersion: "omnivisor.io/v1alpha1", kind: "HAPolicy", metadata: { name: ns }, spec: { pools: [`${ns}-pool`], reservedHostFailures: 0 } },
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
}, 60_000);

afterAll(async () => {
  await kubectl(admin, ["delete", "hapolicies.omnivisor.io", ns, "--ignore-not-found"]).catch(() => undefined);
  await endScenario(admin, ns, ns, operator);
  await kubectl(admin, ["delete", "namespace", tenant, "--wait=false"]).catch(() => undefined);
  await bmc?.close();
});

describe("HA: a fencing Secret outside the credentials namespaces", () => {
  it("is refused before it is read: Blocked FenceCredentialsRefused, an Event, the BMC never asked", async () => {
    type Failover = { host: string; phase: string; message?: string; fencedAt?: string };
    const blocked = await waitFor("the failover Blocked", async () => {
      const p = await getObject(admin, "hapolicies.omnivisor.io", ns);
      return ((p?.status as { failoversInProgress?: Failover[] } | undefined)?.failoversInProgress ?? []).find((f) => f.phase === "Blocked");
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(blocked.fencedAt).toBeUndefined();
    expect(blocked.message).toBe(`no confirmed fence, so nothing is restarted: the fencing Secret ${tenant}/bmc is in namespace ${tenant}; this operator reads credentials only from ${ns} (--credentials-namespaces)`);
    const events = await waitFor("the FenceCredentialsRefused Event", async () => {
      const out = await kubectl(admin, ["get", "events", "-n", "default", "--field-selector", `involvedObject.name=${ns},reason=FenceCredentialsRefused`, "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}"]);
      return out.trim() ? out : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, onTimeout: logs });
    expect(events).toContain(`host ${ns}-lost: no confirmed fence`);
    expect(condition(await getObject(admin, "hapolicies.omnivisor.io", ns), "Ready")).toMatchObject({ status: "False", reason: "FailoverBlocked" });
    await new Promise((r) => setTimeout(r, 4_000)); // a retry (every 3 s) later: still never asked
    expect(bmc.resets).toBe(0);
    expect(bmc.unauthorized).toBe(0);
    expect(operator!.output.join("")).not.toContain(login.password);
  }, 90_000);
});
