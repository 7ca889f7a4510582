// Scenario: a widget controller runs against a control plane of its own (so the API server can be
// restarted and its request counters belong to this test alone).
// 1. Steady state: after convergence, resync passes keep reconciling every widget, and the API
//    server records no write at all to widgets.
// 2. The API server restarts, or the connection drops: the watch resumes and a change made
//    afterwards is reconciled.
// 3. The connection drops; while the operator is cut off widgets are created, changed and deleted,
//    etcd is compacted and the API server restarted, so resuming the watch answers 410 Gone: the
//    informer relists and misses none of the changes.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { waitFor } from "../../src/local/wait.ts";
import { widgetController } from "./fixtures/widget-controller.ts";
import { TcpProxy } from "../harness/socket-proxy.ts";
import { applyWidget, createNamespace, getWidget, installWidgets, kubectl, runController, total, widgetWrites, type InProcessController } from "./fixtures/widgets.ts";

const ns = "rt-resilience";
const idleMs = 60_000; // the "a minute of idle"
const resyncMs = 5_000;

async function compactEtcd(etcdUrl: string): Promise<string> {
  const range = (await (await fetch(`${etcdUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("/").toString("base64") }) })).json()) as { header: { revision: string } };
  const revision = range.header.revision;
  const res = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: "POST", body: JSON.stringify({ revision, physical: true }) });
  if (!res.ok) throw new Error(`etcd compaction: HTTP ${res.status} ${await res.text()}`);
  return revision;
}

describe("informer and controller resilience against a real API server", () => {
  let cp: ControlPlane;
  let proxy: TcpProxy;
  let running: InProcessController;
  let admin: string;

  const reconciles = async () => {
    const m = await running.metrics.reconcileTotal.get();
    return m.values.filter((v) => v.labels.result !== "error").reduce((a, v) => a + v.value, 0);
  };
  const cached = (name: string) => running.controller.informer.get(`${ns}/${name}`);
  const doubled = async (name: string, value: number) =>
    waitFor(`${name} doubled = ${value}`, async () => ((await getWidget(admin, ns, name)).status?.doubled === value ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });

  beforeAll(async () => {
    cp = await ControlPlane.start({ crdsDir: false, controllerManager: false });
    admin = cp.kubeconfigs.admin;
    await installWidgets(admin, cp.kubeconfigs.operator);
    await createNamespace(admin, ns);
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: Number(new URL(cp.server).port) });
    const port = proxy.port;
    const viaProxy = join(cp.dir, "operator-via-proxy.kubeconfig");
    const original = readFileSync(cp.kubeconfigs.operator, "utf8");
    writeFileSync(viaProxy, original.replace(cp.server, `https://127.0.0.1:${port}`));
    running = await runController(viaProxy, widgetController({ identity: "resilience", resyncPeriodMs: resyncMs, namespace: ns }));
  });

  afterAll(async () => {
    await running?.stop();
    await proxy?.dispose();
    await cp?.stop();
  });

  it("given converged widgets, when idle for a minute through a dozen resyncs, then no write reaches the API server", async () => {
    for (let i = 0; i < 5; i++) await applyWidget(admin, ns, `idle-${i}`, { size: i });
    for (let i = 0; i < 5; i++) await doubled(`idle-${i}`, i * 2);
    await new Promise((r) => setTimeout(r, 1_000)); // let the last writes' own watch events arrive
    const writesBefore = await widgetWrites(admin);
    const reconcilesBefore = await reconciles();
    await new Promise((r) => setTimeout(r, idleMs));
    const writesAfter = await widgetWrites(admin);
    const passes = (await reconciles()) - reconcilesBefore;
    console.log(`steady state: ${passes} reconcile passes in ${idleMs / 1000} s idle, writes before ${JSON.stringify(writesBefore)} after ${JSON.stringify(writesAfter)}`);
    expect(total(writesBefore)).toBeGreaterThan(0); // the counter does see our writes
    expect(passes).toBeGreaterThanOrEqual(5 * 3); // every widget reconciled on at least 3 resyncs
    expect(writesAfter).toEqual(writesBefore);
    // and it keeps no copy of a status its cache already holds
    expect((running.controller as unknown as { statusesAwaitingCache: number }).statusesAwaitingCache).toBe(0);
  });

  it("when the API server restarts, then the watch resumes and later changes are reconciled", async () => {
    const restartsBefore = running.controller.informer.stats.watchRestarts;
    await cp.restartApiServer();
    await applyWidget(admin, ns, "after-restart", { size: 50 });
    await doubled("after-restart", 100);
    await applyWidget(admin, ns, "idle-0", { size: 7 });
    await doubled("idle-0", 14);
    const stats = running.controller.informer.stats;
    expect(stats.watchRestarts).toBeGreaterThan(restartsBefore);
    console.log(`after API server restart: ${JSON.stringify(stats)}`);
  });

  it("when the connection drops, then the informer reconnects and later changes are reconciled", async () => {
    const restartsBefore = running.controller.informer.stats.watchRestarts;
    proxy.sever();
    proxy.restore();
    await applyWidget(admin, ns, "after-drop", { size: 4 });
    await doubled("after-drop", 8);
    expect(running.controller.informer.stats.watchRestarts).toBeGreaterThan(restartsBefore);
  });

  it("when the connection drops and the history is compacted meanwhile, then a 410 relist misses no change", async () => {
    const informer = running.controller.informer;
    const relistsBefore = informer.stats.relistsAfterGone;
    proxy.sever();
    // while cut off: create one, change one, delete one (its finalizer removed by hand)
    await applyWidget(admin, ns, "while-cut", { size: 8 });
    await applyWidget(admin, ns, "idle-1", { size: 9 });
    await kubectl(admin, ["patch", "widget.test.omnivisor.io", "-n", ns, "idle-2", "--type=merge", "-p", '{"metadata":{"finalizers":null}}']);
    await kubectl(admin, ["delete", "widget.test.omnivisor.io", "-n", ns, "idle-2", "--wait=true"]);
    const compactedAt = await compactEtcd(cp.etcdUrl);
    await cp.restartApiServer();
    proxy.restore();

    await doubled("while-cut", 16);
    await doubled("idle-1", 18);
    await waitFor("idle-2 to leave the cache", () => (cached("idle-2") === undefined ? true : undefined), { timeoutMs: 60_000 });
    expect(informer.stats.relistsAfterGone).toBeGreaterThan(relistsBefore);
    console.log(`after cut + compaction at revision ${compactedAt} + restart: ${JSON.stringify(informer.stats)}`);
  });
});
