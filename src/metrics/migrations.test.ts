import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { HostObject, VmMigrationObject } from "../fleet/kinds.ts";
import { MigrationMetrics } from "./migrations.ts";

const move = (phase: string, extra: object = {}): VmMigrationObject => ({ metadata: { name: "m", namespace: "t" }, spec: { virtualMachine: "vm" }, status: { phase, sourceHost: "a", mode: "Live", ...extra } }) as VmMigrationObject;
const world = { host: (name: string): HostObject | undefined => (name === "a" ? ({ metadata: { name: "a" }, spec: { driver: "libvirt" } } as HostObject) : undefined), vmHost: () => "a" };

describe("migration metrics", () => {
  it("when a move reaches Succeeded, then it is counted once with its duration and downtime; later updates add nothing", async () => {
    const registry = new Registry();
    const m = new MigrationMetrics(registry);
    const done = move("Succeeded", { startedAt: "2026-12-07T00:00:00Z", completedAt: "2026-12-07T00:00:02Z", downtimeMs: 20 });
    m.changed(move("Running"), done, world);
    m.changed(done, done, world);
    const text = await registry.metrics();
    expect(text).toContain('omnivisor_migrations_total{driver="libvirt",mode="Live",outcome="Succeeded"} 1');
    expect(text).toContain('omnivisor_migration_duration_seconds_sum{driver="libvirt",mode="Live"} 2');
    expect(text).toContain('omnivisor_migration_downtime_seconds_sum{driver="libvirt"} 0.02');
  });

  it("given a move refused before it started (no source host, no mode), then the VM's host and the mode asked for count it", async () => {
    const registry = new Registry();
    const refused = { metadata: { name: "m", namespace: "t" }, spec: { virtualMachine: "vm", live: true }, status: { phase: "Failed" } } as VmMigrationObject;
    new MigrationMetrics(registry).changed({ ...refused, status: {} }, refused, world);
    expect(await registry.metrics()).toContain('omnivisor_migrations_total{driver="libvirt",mode="Live",outcome="Failed"} 1');
  });

  it("given a driver's hosts, then its move counters start at 0", async () => {
    const registry = new Registry();
    new MigrationMetrics(registry).zero("docker");
    const text = await registry.metrics();
    expect(text).toContain('omnivisor_migrations_total{driver="docker",mode="Cold",outcome="Failed"} 0');
    expect(text).toContain('omnivisor_migration_duration_seconds_count{driver="docker",mode="Live"} 0');
  });
});
