// Scenario: a controller built on the runtime reconciles Widgets on the shared API server as the
// RBAC-limited operator identity. Status is applied once, with conditions carrying the
// generation; a finalizer guards deletion; a widget whose reconcile keeps failing is retried with
// growing gaps (not hot-looped), reported in Synced=False, and produces one aggregated Event.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { Informer } from "../../src/runtime/informer.ts";
import { createLogger } from "../../src/runtime/log.ts";
import { ResourceClient } from "../../src/runtime/resource.ts";
import { widgetController, widgetFinalizer, widgets, type Widget } from "./fixtures/widget-controller.ts";
import { applyWidget, cleanupNamespace, createNamespace, getWidget, installWidgets, kubectl, runController, type InProcessController } from "./fixtures/widgets.ts";

const admin = inject("kubeconfig");
const operator = inject("operatorKubeconfig");
const ns = `rt-reconcile-${process.pid}`;

describe("reconciling widgets", () => {
  let running: InProcessController;
  const attempts = new Map<string, number[]>(); // "key@generation" → times of passes

  beforeAll(async () => {
    await installWidgets(admin, operator);
    await createNamespace(admin, ns);
    running = await runController(
      operator,
      widgetController({
        identity: "in-process",
        namespace: ns,
        backoff: { baseMs: 100, capMs: 60_000 },
        onAttempt: (key, generation) => {
          const k = `${key}@${generation}`;
          attempts.set(k, [...(attempts.get(k) ?? []), performance.now()]);
        },
      }),
      { eventUpdateIntervalMs: 500 }, // short, so the scenario sees the count go up
    );
  });

  afterAll(async () => {
    await running?.stop();
    await cleanupNamespace(admin, ns);
  });

  it("given a widget, then its status is applied with Ready and Synced for its generation, and a finalizer guards it", async () => {
    await applyWidget(admin, ns, "w1", { size: 21 });
    const w = await waitFor("w1 reconciled", async () => {
      const got = await getWidget(admin, ns, "w1");
      return got.status?.doubled === 42 ? got : undefined;
    });
    expect(w.status?.observedGeneration).toBe(w.metadata.generation);
    expect(w.status?.conditions?.map((c) => [c.type, c.status])).toEqual(expect.arrayContaining([["Ready", "True"], ["Synced", "True"]]));
    expect(w.metadata.finalizers).toContain(widgetFinalizer);
    const managers = JSON.parse(await kubectl(admin, ["get", "widget.test.omnivisor.io", "-n", ns, "w1", "-o", "json", "--show-managed-fields"])) as {
      metadata: { managedFields: { manager: string; subresource?: string; operation: string }[] };
    };
    expect(managers.metadata.managedFields).toEqual(expect.arrayContaining([expect.objectContaining({ manager: "omnivisor", subresource: "status", operation: "Apply" })]));

    // when the spec changes, then the new generation is observed
    await applyWidget(admin, ns, "w1", { size: 5 });
    const changed = await waitFor("w1 re-reconciled", async () => {
      const got = await getWidget(admin, ns, "w1");
      return got.status?.doubled === 10 ? got : undefined;
    });
    expect(changed.status?.observedGeneration).toBe(changed.metadata.generation);
    expect(changed.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime).toBe(
      w.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime,
    );

    // when it is deleted, then the controller releases the finalizer and it goes
    await kubectl(admin, ["delete", "widget.test.omnivisor.io", "-n", ns, "w1", "--wait=true", "--timeout=30s"]);
    expect(await kubectl(admin, ["get", "widgets.test.omnivisor.io", "-n", ns, "-o", "name"])).not.toContain("w1");
  });

  it("given a widget whose pass takes seconds, then its status shows the work under way before the pass ends, and the outcome after", async () => {
    await applyWidget(admin, ns, "slow", { size: 4, workMs: 3000 });
    const during = await waitFor("slow shows Working", async () => {
      const got = await getWidget(admin, ns, "slow");
      return got.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "Working") ? got : undefined;
    }, { intervalMs: 50 });
    expect(during.status?.doubled).toBeUndefined();
    expect(during.status?.conditions?.find((c) => c.type === "Synced")?.status).toBe("True");
    const after = await waitFor("slow done", async () => {
      const got = await getWidget(admin, ns, "slow");
      return got.status?.doubled === 8 ? got : undefined;
    });
    expect(after.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "Doubled" });
    await kubectl(admin, ["delete", "widget.test.omnivisor.io", "-n", ns, "slow", "--wait=true", "--timeout=30s"]);
  });

  it("given a widget whose reconcile keeps failing, then retries back off exponentially and one Event aggregates them", async () => {
    // reconciled once while healthy (finalizer in place), so later passes come only from retries
    await applyWidget(admin, ns, "broken", { size: 1 });
    await waitFor("broken reconciled", async () => ((await getWidget(admin, ns, "broken")).status?.doubled === 2 ? true : undefined));
    await applyWidget(admin, ns, "broken", { fail: true });
    const key = `${ns}/broken@${(await getWidget(admin, ns, "broken")).metadata.generation}`;
    const times = await waitFor("six failed attempts", () => {
      const t = attempts.get(key) ?? [];
      return t.length >= 6 ? [...t] : undefined;
    }, { timeoutMs: 30_000 });
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Timers never fire early: the n-th retry waits at least base · 2^n (100, 200, 400, …), and
    // each gap is longer than the one before — growing, not a hot loop. (The first gap also holds
    // the one status write, Synced=False, so growth is compared from the second on.)
    const shown = `gaps ${gaps.map(Math.round).join(", ")} ms`;
    gaps.forEach((gap, i) => expect(gap, shown).toBeGreaterThanOrEqual(100 * 2 ** i - 2));
    for (let i = 2; i < gaps.length; i++) expect(gaps[i]!, shown).toBeGreaterThan(gaps[i - 1]!);

    const w = await getWidget(admin, ns, "broken");
    expect(w.status?.conditions?.find((c) => c.type === "Synced")).toMatchObject({ status: "False", reason: "ReconcileError", message: "widget asked to fail" });

    const events = JSON.parse(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=broken,reason=ReconcileError", "-o", "json"])) as {
      items: { count: number; type: string }[];
    };
    expect(events.items).toHaveLength(1);
    expect(events.items[0]).toMatchObject({ type: "Warning" });
    expect(events.items[0]!.count).toBeGreaterThan(1);

    // when the spec is fixed, then it recovers at once (a spec change is not held back by the backoff)
    await applyWidget(admin, ns, "broken", { fail: false, size: 1 });
    await waitFor("broken to recover", async () => ((await getWidget(admin, ns, "broken")).status?.conditions?.find((c) => c.type === "Synced")?.status === "True" ? true : undefined));
    console.log(`failing reconcile: attempt gaps ${gaps.map(Math.round).join(", ")} ms`);
  });

  it("given an informer with an index, then lookups by index follow creates, changes and deletes", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(operator);
    const informer = new Informer<Widget>(kc, new ResourceClient<Widget>(kc, widgets), createLogger({ write: () => {} }), {
      namespace: ns,
      indexes: { bySize: (w) => [String(w.spec?.size ?? 0)] },
    });
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.synced).toBe(true);
      await applyWidget(admin, ns, "idx-a", { size: 3 });
      await applyWidget(admin, ns, "idx-b", { size: 3 });
      const names = (size: number) => informer.byIndex("bySize", String(size)).map((w) => w.metadata.name).filter((n) => n.startsWith("idx-")).sort();
      await waitFor("both in index 3", () => (names(3).length === 2 ? true : undefined));
      await applyWidget(admin, ns, "idx-b", { size: 4 });
      await waitFor("idx-b moved to index 4", () => (names(4).join() === "idx-b" && names(3).join() === "idx-a" ? true : undefined));
      await kubectl(admin, ["patch", "widget.test.omnivisor.io", "-n", ns, "idx-a", "--type=merge", "-p", '{"metadata":{"finalizers":null}}']);
      await kubectl(admin, ["delete", "widget.test.omnivisor.io", "-n", ns, "idx-a", "--wait=true"]);
      await waitFor("idx-a gone from the index", () => (names(3).length === 0 ? true : undefined));
    } finally {
      await informer.shutdown();
    }
  });
});
