// Scenario: two manager processes (`node src/cmd/manager.ts`) share one Lease on the shared API
// server. Exactly one reconciles; the standby keeps warm caches and serves /readyz and /metrics.
// kill -9 the leader: the standby takes over once the lease runs out. SIGTERM the leader: it
// drains, releases the lease, exits 0, and the standby takes over at its next retry.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { applyWidget, cleanupNamespace, createNamespace, getWidget, installWidgets, kubectl, spawnManager, type ManagerProcess } from "./fixtures/widgets.ts";

const admin = inject("kubeconfig");
const operator = inject("operatorKubeconfig");
const ns = `rt-leader-${process.pid}`;
const lease = "widget-managers";

const attempts = (m: ManagerProcess) => m.lines.filter((l) => l.msg === "widget reconcile attempt");
const lineAt = (m: ManagerProcess, msg: string) => m.lines.find((l) => l.msg === msg)?.receivedAt as number | undefined;

async function holder(): Promise<string> {
  return kubectl(admin, ["get", "lease", "-n", ns, lease, "-o", "jsonpath={.spec.holderIdentity}"]).catch(() => "");
}

function start(identity: string): ManagerProcess {
  return spawnManager(operator, identity, ["--namespace", ns, "--lease-name", lease, "--watch-namespace", ns]);
}

async function handledBy(name: string, identity: string): Promise<void> {
  await waitFor(`${name} reconciled by ${identity}`, async () => ((await getWidget(admin, ns, name)).status?.handledBy === identity ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
}

async function httpGet(m: ManagerProcess, path: string): Promise<{ status: number; body: string }> {
  const port = await waitFor(`${m.identity} metrics port`, () => m.lines.find((l) => l.msg === "serving /metrics, /healthz, /readyz")?.port as number | undefined);
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

const leaderGauge = (metrics: string) => new RegExp(`^omnivisor_leader\\{lease="${lease}"\\} (\\d)$`, "m").exec(metrics)?.[1];

describe("two manager replicas with leader election", () => {
  const managers: ManagerProcess[] = [];

  beforeAll(async () => {
    await installWidgets(admin, operator);
    await createNamespace(admin, ns);
  });

  afterAll(async () => {
    for (const m of managers) if (m.child.exitCode === null) m.child.kill("SIGKILL");
    await cleanupNamespace(admin, ns);
  });

  it("exactly one reconciles; kill -9 hands over after the lease expires; SIGTERM hands over at once", async () => {
    // given replica a leading and replica b standing by
    const a = start("rt-a");
    managers.push(a);
    await waitFor("rt-a to hold the lease", async () => ((await holder()) === "rt-a" ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    const b = start("rt-b");
    managers.push(b);
    await waitFor("rt-b ready (caches synced)", async () => ((await httpGet(b, "/readyz").catch(() => ({ status: 0 }))).status === 200 ? true : undefined));

    // when a widget appears, then only the leader reconciles it
    await applyWidget(admin, ns, "w1", { size: 1 });
    await handledBy("w1", "rt-a");
    expect(attempts(a).length).toBeGreaterThan(0);
    expect(attempts(a).every((l) => l.key === `${ns}/w1`)).toBe(true);
    expect(attempts(b)).toHaveLength(0);
    expect(leaderGauge((await httpGet(b, "/metrics")).body)).toBe("0");
    const leaderMetrics = (await httpGet(a, "/metrics")).body;
    expect(leaderGauge(leaderMetrics)).toBe("1");
    expect(leaderMetrics).toMatch(/^omnivisor_reconcile_total\{controller="widget",result="success"\} [1-9]/m);
    expect(leaderMetrics).toMatch(/^omnivisor_workqueue_adds_total\{name="widget"\} [1-9]/m);
    expect(leaderMetrics).toMatch(/^process_cpu_seconds_total /m);
    expect((await httpGet(b, "/healthz")).status).toBe(200);

    // when the leader is killed with SIGKILL, then the standby takes over once the lease runs out
    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await a.exited;
    await waitFor("rt-b to become leader", () => lineAt(b, "became leader"), { timeoutMs: 40_000, intervalMs: 100 });
    const killTakeover = lineAt(b, "became leader")! - killedAt;
    expect(await holder()).toBe("rt-b");
    // the lease is 15 s, retried every 2 s: a generous correctness bound, not a timing claim
    expect(killTakeover).toBeLessThan(15_000 + 2 * 2_000 + 5_000);
    await applyWidget(admin, ns, "w2", { size: 2 });
    await handledBy("w2", "rt-b");
    await handledBy("w1", "rt-b"); // a new leader reconciles everything once

    // given a fresh standby c, when the leader gets SIGTERM, then it releases and c takes over
    const c = start("rt-c");
    managers.push(c);
    await waitFor("rt-c ready", async () => ((await httpGet(c, "/readyz").catch(() => ({ status: 0 }))).status === 200 ? true : undefined));
    const termAt = Date.now();
    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    await waitFor("rt-c to become leader", () => lineAt(c, "became leader"), { timeoutMs: 20_000, intervalMs: 50 });
    const termTakeover = lineAt(c, "became leader")! - termAt;
    const released = lineAt(b, "released the lease");
    expect(released).toBeDefined();
    // order of events: b's last reconcile < b released < c became leader <= c's first reconcile
    const bLast = Math.max(...attempts(b).map((l) => l.receivedAt as number));
    expect(bLast).toBeLessThanOrEqual(released!);
    expect(released!).toBeLessThanOrEqual(lineAt(c, "became leader")!);
    await applyWidget(admin, ns, "w3", { size: 3 });
    await handledBy("w3", "rt-c");
    expect(Math.min(...attempts(c).map((l) => l.receivedAt as number))).toBeGreaterThanOrEqual(lineAt(c, "became leader")!);
    // well under the lease duration: the released lease is free at c's next retry
    expect(termTakeover).toBeLessThan(15_000);

    console.log(`takeover after kill -9: ${killTakeover} ms; after SIGTERM: ${termTakeover} ms`);

    // when another holder takes the lease from under c, then c stops reconciling and exits 1
    const micro = new Date().toISOString().replace(/Z$/, "000Z");
    await kubectl(admin, ["patch", "lease", "-n", ns, lease, "--type=merge", "-p", JSON.stringify({ spec: { holderIdentity: "intruder", renewTime: micro, leaseDurationSeconds: 15 } })]);
    expect(await c.exited).toBe(1);
    const lost = lineAt(c, "lost leadership: another replica holds the lease");
    expect(lost).toBeDefined();
    expect(Math.max(...attempts(c).map((l) => l.receivedAt as number))).toBeLessThanOrEqual(lost!);
  });
});
