// Scenario: exact across replicas. Two managers serve the webhook behind one address (a
// round-robin TCP proxy, as a Service spreads the API server's connections over the pods), one of
// them leading. Each charges the quota's ledger from its own cache, and admits from the room it
// reserved there (ADR 0049); only the resourceVersion on every write keeps them from admitting the
// same room twice. 50 concurrent `kubectl create` against a quota of 10, three rounds: exactly 10
// admitted each time, both replicas answered. Then the proxy sends everything to one replica at a
// time: both hold a block before any create (ADR 0050); room one replica holds is given back when
// the other needs it, and the room a replica held when it was killed is revoked by the recount when
// the other needs it, then dropped once the dead replica can no longer be admitting from it.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local/ports.ts";
import { waitFor } from "../../src/local/wait.ts";
import { apply, kubectl, type Operator } from "../lifecycle/fixtures.ts";
import { createAtOnce, quota, quotaScenario, quotaStatus, quotaUntil, readyz, startManagerProcess, storedVms, vm, webhookInForce, type QuotaScenario } from "./fixtures.ts";

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

  it("both replicas hold a block before any create; room one holds is given back when the other needs it", async () => {
    await apply(s.admin, quota(namespace, "eight", { virtualMachines: 8 }));
    // each replica takes a block as soon as the quota is counted: the first half of the 8, the other half of what is left
    const warm = await quotaUntil(s.admin, namespace, "eight", "both replicas holding a block", (q) => q.used?.virtualMachines === 0 && (q.reservations ?? []).filter((r) => (r.room.virtualMachines ?? 0) > 0).length === 2);
    expect(warm.reservations?.map((r) => r.room.virtualMachines).sort()).toEqual([2, 4]);
    routeTo(1);
    const waitedBefore = count(replicas[1]!, "waiting for room another replica holds");
    // replica 1 needs all 8: its own block, the 2 nobody holds, and replica 0's block
    const names = Array.from({ length: 8 }, (_, i) => `b-${i + 1}`);
    const got = await create(names);
    expect(got.admitted).toEqual([...names].sort());
    expect(count(replicas[1]!, "waiting for room another replica holds"), "replica 1 waited for the room").toBeGreaterThan(waitedBefore);
    expect(count(replicas[0]!, "reservation given back"), "replica 0 gave it back").toBeGreaterThan(0);
    const over = await create(["b-9"]);
    expect(over.refused[0]?.stderr).toContain(`namespace ${namespace} would use 9 VMs of 8 (VDCQuota eight)`);
    expect(await storedVms(s.admin, namespace)).toEqual([...names].sort());
    await kubectl(s.admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", namespace, "--wait=true"]);
    await quotaUntil(s.admin, namespace, "eight", "usage released", (q) => q.used?.virtualMachines === 0 && q.charges === undefined);
    await kubectl(s.admin, ["delete", "vdcquota", "eight", "-n", namespace, "--wait=true"]);
  }, 120_000);

  it("the room a replica held when it was killed is revoked when another needs it, and comes back", async () => {
    // the replica that does not lead is killed: the leader's recount revokes its block, then drops it
    const leader = replicas.findIndex((r) => count(r, "became leader") > 0);
    expect(leader).toBeGreaterThanOrEqual(0);
    const victim = 1 - leader;
    await apply(s.admin, quota(namespace, "five", { virtualMachines: 5 }));
    await quotaUntil(s.admin, namespace, "five", "both replicas holding a block", (q) => q.used?.virtualMachines === 0 && (q.reservations ?? []).filter((r) => (r.room.virtualMachines ?? 0) > 0).length === 2);
    routeTo(victim);
    expect((await create(["x-1"])).admitted).toEqual(["x-1"]);
    const before = await quotaUntil(s.admin, namespace, "five", "the victim holding room after x-1", (q) => q.used?.virtualMachines === 1 && q.charges === undefined && (q.reservations ?? []).some((r) => r.holder === holderOf(victim) && (r.room.virtualMachines ?? 0) > 0));
    replicas[victim]!.child.kill("SIGKILL");
    await replicas[victim]!.exited;
    const dead = (await quotaStatus(s.admin, namespace, "five"))?.reservations?.find((r) => r.holder === holderOf(victim))?.room.virtualMachines ?? 0;
    expect(dead, `the dead replica's block (status before: ${JSON.stringify(before)})`).toBeGreaterThan(0);
    routeTo(leader);
    // what the dead replica does not hold is admitted at once (the leader's own block counts as free to it)
    const free = Array.from({ length: 4 - dead }, (_, i) => `y-${i + 1}`);
    expect((await create(free)).admitted).toEqual(free);
    // the next needs the dead replica's room: it waits 3 s, asking for it; the recount revokes the block meanwhile
    const refused = await create(["z-1"]);
    expect(refused.refused[0]?.stderr).toContain(`namespace ${namespace} would use 6 VMs of 5 (VDCQuota five); part of that room is reserved by another replica of the webhook and was not given back within 3 s`);
    const revoked = await kubectl(s.admin, ["get", "events", "-n", namespace, "--field-selector", "reason=ReservationRevoked", "-o", "jsonpath={.items[*].message}"]);
    expect(revoked).toContain(`revoked the room webhook replica ${holderOf(victim)} holds`);
    // dropped once the dead replica can no longer be admitting from it (the validity plus the grace after the revoke was stored)
    await quotaUntil(s.admin, namespace, "five", "the dead replica's reservation dropped by the recount", (q) => (q.reservations ?? []).every((r) => r.holder !== holderOf(victim)));
    const events = await kubectl(s.admin, ["get", "events", "-n", namespace, "--field-selector", "reason=ReservationReleased", "-o", "jsonpath={.items[*].message}"]);
    expect(events).toContain(`released the room webhook replica ${holderOf(victim)} held`);
    const rest = Array.from({ length: dead }, (_, i) => `z-${i + 1}`);
    expect((await create(rest)).admitted).toEqual(rest);
    expect((await create(["z-9"])).refused[0]?.stderr).toContain(`namespace ${namespace} would use 6 VMs of 5 (VDCQuota five)`);
    expect(await storedVms(s.admin, namespace)).toEqual(["x-1", ...free, ...rest].sort());
  }, 180_000);
});
