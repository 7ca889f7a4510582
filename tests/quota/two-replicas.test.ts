// Scenario: exact across replicas. Two managers serve the webhook behind one address (a
// round-robin TCP proxy, as a Service spreads the API server's connections over the pods), one of
// them leading. Each charges the quota's ledger from its own cache, and admits from the room it
// reserved there (ADR 0049); only the resourceVersion on every write keeps them from admitting the
// same room twice. 50 concurrent `kubectl create` against a quota of 10, three rounds: exactly 10
// admitted each time, both replicas answered. Then the proxy sends everything to one replica at a
// time: room one replica holds is given back when the other needs it, and the room a replica
// held when it was killed comes back through the recount.
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

/** Each new connection to `port` goes to the next of `targets`, or to `only` when set. */
let only: number | undefined;
async function roundRobin(port: number, targets: number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const upstream = createConnection(only ?? targets[next++ % targets.length]!, "127.0.0.1");
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
  ports = [await freePort(), await freePort()];
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
let ports: number[] = [];

/** From now on the API server reaches replica `i` only (its open connections are cut, so it connects again). */
function routeTo(i: number): void {
  only = ports[i];
  for (const sock of sockets) sock.destroy();
}

/** The holder name of replica `i`'s webhook, from its log. */
function holderOf(i: number): string {
  const line = replicas[i]!.output.join("").split("\n").find((l) => l.includes('"holder":"'));
  return line ? (JSON.parse(line) as { holder: string }).holder : "";
}

/** One `kubectl create` per name, all at once; the names admitted. */
async function create(names: string[]): Promise<{ admitted: string[]; refused: { name: string; stderr: string }[] }> {
  const outcomes = await createAtOnce(s.admin, names.map((name) => ({ name, body: vm(namespace, name) })));
  return { admitted: outcomes.filter((o) => o.code === 0).map((o) => o.name).sort(), refused: outcomes.filter((o) => o.code !== 0) };
}

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
    await kubectl(s.admin, ["delete", "vdcquota", "ten", "-n", namespace, "--wait=true"]);
  }, 300_000);

  it("room one replica holds is given back when the other needs it", async () => {
    await apply(s.admin, quota(namespace, "four", { virtualMachines: 4 }));
    await quotaUntil(s.admin, namespace, "four", "the quota counted", (q) => q.used?.virtualMachines === 0);
    routeTo(0);
    expect((await create(["a-1"])).admitted).toEqual(["a-1"]);
    // replica 0 charged a-1 and reserved half of the 3 left
    const held = await quotaUntil(s.admin, namespace, "four", "replica 0's reservation", (q) => (q.reservations ?? []).some((r) => r.holder === holderOf(0)));
    expect(held.reservations?.map((r) => [r.holder, r.room.virtualMachines])).toEqual([[holderOf(0), 1]]);
    routeTo(1);
    const waitedBefore = count(replicas[1]!, "waiting for room another replica holds");
    // replica 1 needs all 3 left: 2 are free, 1 is in replica 0's block
    const got = await create(["b-1", "b-2", "b-3"]);
    expect(got.admitted).toEqual(["b-1", "b-2", "b-3"]);
    expect(count(replicas[1]!, "waiting for room another replica holds"), "replica 1 waited for the room").toBeGreaterThan(waitedBefore);
    expect(count(replicas[0]!, "reservation given back"), "replica 0 gave it back").toBeGreaterThan(0);
    const over = await create(["b-4"]);
    expect(over.refused[0]?.stderr).toContain(`namespace ${namespace} would use 5 VMs of 4 (VDCQuota four)`);
    expect(await storedVms(s.admin, namespace)).toEqual(["a-1", "b-1", "b-2", "b-3"]);
    await kubectl(s.admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", namespace, "--wait=true"]);
    await quotaUntil(s.admin, namespace, "four", "usage released", (q) => q.used?.virtualMachines === 0 && q.charges === undefined && q.reservations === undefined);
    await kubectl(s.admin, ["delete", "vdcquota", "four", "-n", namespace, "--wait=true"]);
  }, 120_000);

  it("the room a replica held when it was killed comes back through the recount", async () => {
    // the replica that does not lead is killed: the leader's recount gives its room back
    const leader = replicas.findIndex((r) => count(r, "became leader") > 0);
    expect(leader).toBeGreaterThanOrEqual(0);
    const victim = 1 - leader;
    await apply(s.admin, quota(namespace, "five", { virtualMachines: 5 }));
    await quotaUntil(s.admin, namespace, "five", "the quota counted", (q) => q.used?.virtualMachines === 0);
    routeTo(victim);
    expect((await create(["x-1"])).admitted).toEqual(["x-1"]);
    await quotaUntil(s.admin, namespace, "five", "the victim's reservation", (q) => (q.reservations ?? []).some((r) => r.holder === holderOf(victim) && r.room.virtualMachines === 2));
    replicas[victim]!.child.kill("SIGKILL");
    await replicas[victim]!.exited;
    routeTo(leader);
    // 2 of the 4 left are free; the other 2 are in the dead replica's block
    expect((await create(["y-1", "y-2"])).admitted).toEqual(["y-1", "y-2"]);
    const refused = await create(["y-3"]);
    expect(refused.refused[0]?.stderr).toContain(`namespace ${namespace} would use 6 VMs of 5 (VDCQuota five); part of that room is reserved by another replica of the webhook and was not given back within 3 s`);
    await quotaUntil(s.admin, namespace, "five", "the dead replica's reservation released by the recount", (q) => (q.reservations ?? []).every((r) => r.holder !== holderOf(victim)));
    const events = await kubectl(s.admin, ["get", "events", "-n", namespace, "--field-selector", "reason=ReservationReleased", "-o", "jsonpath={.items[*].message}"]);
    expect(events).toContain(`released the room webhook replica ${holderOf(victim)} held`);
    expect((await create(["y-3", "y-4"])).admitted).toEqual(["y-3", "y-4"]);
    expect((await create(["y-5"])).refused[0]?.stderr).toContain(`namespace ${namespace} would use 6 VMs of 5 (VDCQuota five)`);
    expect(await storedVms(s.admin, namespace)).toEqual(["x-1", "y-1", "y-2", "y-3", "y-4"]);
  }, 180_000);
});
