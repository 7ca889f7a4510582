import { describe, expect, it } from "vitest";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { mayPlaceMore } from "./host-changes.ts";

const host = (patch: { generation?: number; ready?: boolean; allocated?: { cpus: number; memory: string }; running?: number; labels?: Record<string, string> } = {}): HostObject =>
  ({
    metadata: { name: "h", generation: patch.generation ?? 1, ...(patch.labels ? { labels: patch.labels } : {}) },
    spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1 },
    status: {
      phase: patch.ready === false ? "NotReady" : "Ready",
      conditions: [{ type: "Ready", status: patch.ready === false ? "False" : "True", reason: "x", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" }],
      allocatable: { cpus: 8, memory: "16Gi" },
      allocated: patch.allocated ?? { cpus: 4, memory: "8Gi" },
      virtualMachines: { total: 4, running: patch.running ?? 2, managed: 4 },
    },
  });

describe("host changes that may let a Pending VM be placed", () => {
  it("a status write that adds no room or eligibility (counts, less room) wakes no Pending VM", () => {
    expect(mayPlaceMore(host(), host({ running: 4 }))).toBe(false);
    expect(mayPlaceMore(host(), host({ allocated: { cpus: 5, memory: "9Gi" } }))).toBe(false);
    expect(mayPlaceMore(host({ ready: false }), host({ ready: false, running: 0 }))).toBe(false);
    expect(mayPlaceMore(host(), host({ ready: false }))).toBe(false);
  });

  it("a new spec or labels, Ready again, or freed room wakes them", () => {
    expect(mayPlaceMore(host(), host({ generation: 2 }))).toBe(true);
    expect(mayPlaceMore(host(), host({ labels: { tier: "gold" } }))).toBe(true);
    expect(mayPlaceMore(host({ ready: false }), host())).toBe(true);
    expect(mayPlaceMore(host(), host({ allocated: { cpus: 3, memory: "8Gi" } }))).toBe(true);
    expect(mayPlaceMore(host(), host({ allocated: { cpus: 4, memory: "7Gi" } }))).toBe(true);
  });
});
