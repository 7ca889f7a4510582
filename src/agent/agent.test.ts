import { describe, expect, it } from "vitest";
import type { HostObject } from "../fleet/kinds.ts";
import { serves, type AgentScope } from "./agent.ts";

const host = (node?: string): HostObject => ({
  metadata: { name: "h" },
  spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1, ...(node ? { node } : {}) },
});

describe("which Hosts a status watcher serves", () => {
  const cases: { scope: AgentScope; host: HostObject; serves: boolean; why: string }[] = [
    { scope: { node: "n1" }, host: host("n1"), serves: true, why: "a node's watcher serves the Hosts bound to it" },
    { scope: { node: "n1" }, host: host("n2"), serves: false, why: "not the Hosts bound to another node" },
    { scope: { node: "n1" }, host: host(), serves: false, why: "not the Hosts bound to no node (the manager's)" },
    { scope: { unbound: true }, host: host(), serves: true, why: "the manager serves the Hosts bound to no node" },
    { scope: { unbound: true }, host: host("n1"), serves: false, why: "and never a Host a node's watcher serves" },
  ];
  it.each(cases)("$why", ({ scope, host, serves: expected }) => {
    expect(serves(scope, host)).toBe(expected);
  });
});
