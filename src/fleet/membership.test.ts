import { describe, expect, it } from "vitest";
import type { HostObject, HostPoolObject } from "./kinds.ts";
import { aggregate, poolMembers } from "./membership.ts";

const host = (name: string, extra: { labels?: Record<string, string>; pool?: string; dc?: string; ready?: boolean } = {}): HostObject =>
  ({
    metadata: { name, labels: extra.labels ?? {} },
    spec: { datacenter: extra.dc ?? "dc", pool: extra.pool, driver: "docker", endpoint: "x" },
    status: { capacity: { cpus: 4, memory: "8Gi" }, allocatable: { cpus: 4, memory: "8Gi" }, allocated: { cpus: 1, memory: "1Gi" }, conditions: extra.ready === false ? [] : [{ type: "Ready", status: "True" }] },
  }) as unknown as HostObject;

describe("pool membership", () => {
  it("a host belongs by list, by selector, or by naming the pool — within the pool's datacenter only", () => {
    const hosts = [host("listed"), host("labelled", { labels: { tier: "gold" } }), host("named", { pool: "p" }), host("other-dc", { labels: { tier: "gold" }, dc: "x" }), host("stranger")];
    const bySelector = { metadata: { name: "p" }, spec: { datacenter: "dc", hostSelector: { matchLabels: { tier: "gold" } } } } as unknown as HostPoolObject;
    expect(poolMembers(bySelector, hosts).map((h) => h.metadata.name)).toEqual(["labelled", "named"]);
    const byList = { metadata: { name: "q" }, spec: { datacenter: "dc", hosts: ["listed"] } } as unknown as HostPoolObject;
    expect(poolMembers(byList, hosts).map((h) => h.metadata.name)).toEqual(["listed"]);
  });

  it("adds up capacity and allocation and counts ready hosts and their VMs", () => {
    const a = host("a");
    const withVms = { ...a, status: { ...a.status, virtualMachines: { total: 3, running: 2, managed: 1 } } } as HostObject;
    expect(aggregate([withVms, host("b", { ready: false })])).toEqual({
      hosts: 2,
      readyHosts: 1,
      virtualMachines: 1,
      capacity: { cpus: 8, memory: "16Gi", storage: "0Gi" },
      allocatable: { cpus: 8, memory: "16Gi", storage: "0Gi" },
      allocated: { cpus: 2, memory: "2Gi", storage: "0Gi" },
    });
  });
});
