import { describe, expect, it } from "vitest";
import type { DRSPolicyStatus } from "../../src/api/index.ts";
import type { VmMigrationObject } from "../../src/fleet/kinds.ts";
import type { DrsPlan, Recommendation } from "../../src/placement/drs/types.ts";
import { applyAnnotation, conditionsOf, decide, drsPolicyLabel, drsPoolLabel, migrationFor, recommendationId, requestedIds, steady, type PolicyObject } from "./decide.ts";

const policy = (mode: "Manual" | "Automatic", apply?: string, max = 2): PolicyObject => ({
  metadata: { name: "drs", uid: "pol-uid", ...(apply !== undefined ? { annotations: { [applyAnnotation]: apply } } : {}) },
  spec: { pools: ["p"], mode, migrationThreshold: 3, intervalSeconds: 60, maxConcurrentMigrations: max },
});
const rec = (vm: string, from: string, to: string, after: number): Recommendation => ({ vm: { namespace: "t", name: vm }, from, to, priority: 3, reason: `imbalance → ${after}`, imbalanceAfter: after });
const plan = (imbalance: number, recommendations: Recommendation[], targetImbalance = 0.1): DrsPlan => ({ imbalance, targetImbalance, recommendations, skipped: [] });
const uids: Record<string, string> = { "t/v1": "u1", "t/v2": "u2", "t/v3": "u3" };
const now = new Date("2026-01-01T00:00:00Z");
const view = (migrations: VmMigrationObject[] = [], requested: string[] = []) => ({ uidOf: (k: string) => uids[k], migrations, requested: new Set(requested), now });
const skewed = plan(0.4, [rec("v1", "a", "b", 0.3), rec("v2", "a", "c", 0.2), rec("v3", "a", "b", 0.05)]);
const running = (vm: string, pool = "p"): VmMigrationObject => ({ metadata: { name: `drs-${vm}`, namespace: "t", labels: { [drsPolicyLabel]: "drs", [drsPoolLabel]: pool } }, spec: { virtualMachine: vm, live: true }, status: { phase: "Running" } });

describe("a DRSPolicy pass's decisions", () => {
  it("given Manual, then the recommendations are listed with stable ids and nothing moves", () => {
    const status: DRSPolicyStatus = {};
    const d = decide(policy("Manual"), [{ pool: "p", plan: skewed }], status, view());
    expect(d.create).toEqual([]);
    expect(status.recommendations!.map((r) => [r.id, r.virtualMachine.name, r.fromHost, r.toHost, r.imbalanceAfter])).toEqual([
      [recommendationId("u1", "a", "b"), "v1", "a", "b", 0.3],
      [recommendationId("u2", "a", "c"), "v2", "a", "c", 0.2],
      [recommendationId("u3", "a", "b"), "v3", "a", "b", 0.05],
    ]);
    expect(status).toMatchObject({ imbalance: 0.4, targetImbalance: 0.1, recommendationCount: 3, migrationsInProgress: 0, migrationsCompleted: 0 });
    expect(d.events.map((e) => e.reason)).toEqual(["RecommendationsChanged"]);
    // the same plan again: the same status, no event
    const again = structuredClone(status);
    expect(decide(policy("Manual"), [{ pool: "p", plan: skewed }], again, view()).events).toEqual([]);
    expect(again).toEqual(status);
  });

  it("given usage that jitters by less than a step, then the figures in status stay as they were", () => {
    const status: DRSPolicyStatus = {};
    decide(policy("Manual"), [{ pool: "p", plan: skewed }], status, view());
    const jittered = plan(0.404, [rec("v1", "a", "b", 0.297), rec("v2", "a", "c", 0.2), rec("v3", "a", "b", 0.05)]);
    const next = structuredClone(status);
    decide(policy("Manual"), [{ pool: "p", plan: jittered }], next, view());
    expect(next).toEqual(status);
    expect(steady(0.4, 0.42)).toBe(0.42);
  });

  it("given Manual and an apply annotation naming an id, then exactly that move becomes a VMMigration and the annotation is removed", () => {
    const id = recommendationId("u2", "a", "c");
    const status: DRSPolicyStatus = {};
    const d = decide(policy("Manual", id), [{ pool: "p", plan: skewed }], status, view());
    expect(d.create.map((m) => [m.spec.virtualMachine, m.spec.targetHost, m.spec.live, m.metadata.labels])).toEqual([["v2", "c", true, { [drsPolicyLabel]: "drs", [drsPoolLabel]: "p" }]]);
    expect(d.create[0]!.metadata.ownerReferences).toEqual([{ apiVersion: "omnivisor.io/v1alpha1", kind: "DRSPolicy", name: "drs", uid: "pol-uid", controller: true, blockOwnerDeletion: false }]);
    expect(d.clearApply).toBe(true);
    expect(status.recommendations!.map((r) => r.virtualMachine.name)).toEqual(["v1", "v3"]);
    expect(status.migrationsInProgress).toBe(1);
    expect(d.events.map((e) => e.reason)).toContain("MigrationStarted");
  });

  it("given apply=all, then every recommendation moves; given an unknown id, then a Warning says so and nothing moves", () => {
    expect(decide(policy("Manual", "all"), [{ pool: "p", plan: skewed }], {}, view()).create.map((m) => m.spec.virtualMachine)).toEqual(["v1", "v2", "v3"]);
    const d = decide(policy("Manual", "nope"), [{ pool: "p", plan: skewed }], {}, view());
    expect(d.create).toEqual([]);
    expect(d.events.find((e) => e.reason === "RecommendationNotFound")?.message).toContain("nope");
    expect(d.clearApply).toBe(true);
    expect(requestedIds(policy("Manual", " a1, b2  c3"))).toEqual(["a1", "b2", "c3"]);
  });

  it("given Automatic, then at most maxConcurrentMigrations are in flight per pool, counting those already running", () => {
    expect(decide(policy("Automatic"), [{ pool: "p", plan: skewed }], {}, view()).create.map((m) => m.spec.virtualMachine)).toEqual(["v1", "v2"]);
    const status: DRSPolicyStatus = {};
    const d = decide(policy("Automatic"), [{ pool: "p", plan: skewed }], status, view([running("old"), running("other", "q")]));
    expect(d.create.map((m) => m.spec.virtualMachine)).toEqual(["v1"]);
    expect(status.migrationsInProgress).toBe(3);
    expect(status.recommendations!.map((r) => r.virtualMachine.name)).toEqual(["v2", "v3"]);
  });

  it("given a VM this process asked to move that the cache does not show yet, then it is not asked again", () => {
    expect(decide(policy("Automatic"), [{ pool: "p", plan: skewed }], {}, view([], ["t/v1"])).create.map((m) => m.spec.virtualMachine)).toEqual(["v2", "v3"]);
  });

  it("counts finished moves and says Balanced or Imbalanced, and Ready=False naming a missing pool", () => {
    const done: VmMigrationObject = { ...running("v9"), status: { phase: "Succeeded" } };
    const status: DRSPolicyStatus = {};
    decide(policy("Manual"), [{ pool: "p", plan: plan(0.05, []) }], status, view([done]));
    expect(status).toMatchObject({ migrationsCompleted: 1, migrationsInProgress: 0, recommendationCount: 0, recommendations: [] });
    expect(conditionsOf(policy("Manual"), [{ pool: "p", plan: plan(0.05, []) }], status)).toMatchObject({ ready: { status: "True", reason: "Evaluated" }, balanced: { status: "True", reason: "Balanced" } });
    const over: DRSPolicyStatus = {};
    decide(policy("Manual"), [{ pool: "p", plan: skewed }], over, view());
    expect(conditionsOf(policy("Manual"), [{ pool: "p", plan: skewed }], over).balanced).toMatchObject({ status: "False", reason: "Imbalanced" });
    expect(conditionsOf(policy("Manual"), [{ pool: "gone", problem: "HostPool gone not found" }], {})).toEqual({ ready: { status: "False", reason: "PoolNotFound", message: "gone: HostPool gone not found" } });
  });

  it("names the hosts left out (no live migration) in Ready, and the VMs held back in Imbalanced", () => {
    const withSkips: DrsPlan = {
      ...skewed,
      skipped: [
        { host: "d", reason: "Docker has no live migration" },
        { vm: { namespace: "t", name: "c1" }, reason: "on d, which cannot live-migrate: Docker has no live migration" },
        { vm: { namespace: "t", name: "v9" }, reason: "moving it would balance the pool best, but it cannot move: cooling down" },
      ],
    };
    const status: DRSPolicyStatus = {};
    decide(policy("Manual"), [{ pool: "p", plan: withSkips }], status, view());
    const { ready, balanced } = conditionsOf(policy("Manual"), [{ pool: "p", plan: withSkips }], status);
    expect(ready.message).toBe("Manual at level 3: 1 pool(s) evaluated every 60s; hosts left out: d (Docker has no live migration)");
    expect(balanced!.message).toContain("held back: v9: moving it would balance the pool best, but it cannot move: cooling down");
    expect(balanced!.message).not.toContain("c1");
  });

  it("names its VMMigrations within 253 characters and differently on each pass", () => {
    const r = { id: "0123456789", virtualMachine: { namespace: "t", name: "v".repeat(253) }, fromHost: "a", toHost: "b" };
    const m = migrationFor(policy("Automatic"), "p", r, now);
    expect(m.metadata.name.length).toBeLessThanOrEqual(253);
    expect(migrationFor(policy("Automatic"), "p", r, new Date(now.getTime() + 1000)).metadata.name).not.toBe(m.metadata.name);
  });
});
