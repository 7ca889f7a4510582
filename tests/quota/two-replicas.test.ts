// Scenario: exact across replicas. Two managers serve the webhook behind one address (a
// round-robin TCP proxy, as a Service spreads the API server's connections over the pods), one of
// them leading. Each charges the quota's ledger from its own cache; only the resourceVersion on
// every write keeps them from admitting the same room twice. 50 concurrent `kubectl create`
// against a quota of 10, three rounds: exactly 10 admitted each time, both replicas answered, and
// their writes did meet (conflicts, read again, judged again).
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { apply, kubectl, type Operator } from "../lifecycle/fixtures.ts";
import { createAtOnce, quota, quotaScenario, quotaUntil, readyz, startManagerProcess, storedVms, vm, webhookInForce, type QuotaScenario } from "./fixtures.ts";

const namespace = "quota-replicas";
let s: QuotaScenario;
const replicas: Operator[] = [];
let proxy: Server | undefined;
const sockets = new Set<Socket>();

/** Each new connection to `port` goes to the next of `targets`. */
async function roundRobin(port: number, targets: number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const upstream = createConnection(targets[next++ % targets.length]!, "127.0.0.1");
    for (const sock of [client, upstream]) {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
      sock.on("error", () => [client, upstream].forEach((x) => x.destroy()));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

beforeAll(async () => {
  s = await quotaScenario(namespace, { admin: inject("kubeconfig"), operator: inject("operatorKubeconfig"), controlPlaneDir: inject("controlPlaneDir") });
  const ports = [await freePort(), await freePort()];
  for (const [i, port] of ports.entries()) {
    replicas.push(startManagerProcess([
      "--kubeconfig", inject("operatorKubeconfig"), "--identity", `replica-${i}`, "--namespace", namespace, "--lease-name", "quota-replicas", "--watch-namespace", namespace,
      "--metrics-port", "0", "--controllers", "vdcquota", "--webhook-port", String(port), "--webhook-host", "127.0.0.1",
      "--webhook-cert-file", s.cert.cert, "--webhook-key-file", s.cert.key, "--retry-period", "1", "--log-level", "debug",
    ]));
  }
  for (const r of replicas) await waitFor("a replica's /readyz", () => readyz(r), { timeoutMs: 60_000, intervalMs: 200, onTimeout: () => r.output.join("").slice(-2000) });
  proxy = await roundRobin(s.port, ports);
  await webhookInForce(s.admin, namespace);
}, 120_000);

afterAll(async () => {
  await s?.end();
  for (const r of replicas) await r.stop();
  for (const sock of sockets) sock.destroy();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
});

const count = (r: Operator, msg: string): number => r.output.join("").split("\n").filter((l) => l.includes(`"msg":"${msg}"`)).length;

describe("two replicas serving the webhook", () => {
  it("admit exactly 10 of 50 concurrent creates between them, three rounds in a row", async () => {
    await apply(s.admin, quota(namespace, "ten", { virtualMachines: 10 }));
    await quotaUntil(s.admin, namespace, "ten", "the quota counted", (q) => q.used?.virtualMachines === 0);
    for (let round = 1; round <= 3; round++) {
      const outcomes = await createAtOnce(s.admin, Array.from({ length: 50 }, (_, i) => ({ name: `r${round}-${i}`, body: vm(namespace, `r${round}-${i}`) })));
      const admitted = outcomes.filter((o) => o.code === 0);
      expect(admitted, `round ${round}`).toHaveLength(10);
      for (const o of outcomes.filter((x) => x.code !== 0)) expect(o.stderr).toContain(`namespace ${namespace} would use 11 VMs of 10 (VDCQuota ten)`);
      expect(await storedVms(s.admin, namespace)).toHaveLength(10);
      const settled = await quotaUntil(s.admin, namespace, "ten", "the recount settled", (q) => q.charges === undefined);
      expect(settled.used?.virtualMachines).toBe(10);
      await kubectl(s.admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", namespace, "--wait=true"]);
      await quotaUntil(s.admin, namespace, "ten", "usage released", (q) => q.used?.virtualMachines === 0);
    }
    for (const r of replicas) expect(count(r, "admission answered"), "each replica answered requests").toBeGreaterThan(0);
    const conflicts = replicas.reduce((n, r) => n + count(r, "quota changed meanwhile; reading it again"), 0);
    expect(conflicts, "the replicas' writes met and were judged again").toBeGreaterThan(0);
  }, 300_000);
});
