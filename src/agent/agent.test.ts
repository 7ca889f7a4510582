import { describe, expect, it } from "vitest";
import type { HostObject } from "../fleet/kinds.ts";
import type { Session } from "../../drivers/contract/index.ts";
import { borrowed, serves, type AgentScope } from "./agent.ts";

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

describe("a shared session lent to a status watcher", () => {
  const lend = () => {
    const dropped: string[] = [];
    const session = { close: () => Promise.resolve() } as unknown as Session;
    const sessions = { session: () => Promise.resolve(session), dropIf: (name: string) => Promise.resolve(void dropped.push(name)) };
    return { dropped, sessions };
  };
  it("given its connection failed, when the watcher closes it, then it is dropped so the next user reconnects", async () => {
    const { dropped, sessions } = lend();
    await (await borrowed(sessions, host(), AbortSignal.timeout(1000))).close();
    expect(dropped).toEqual(["h"]);
  });
  it("given the watcher is retired (the Host's spec changed), when it closes it, then the session stays for the others (a migration using it goes on)", async () => {
    const { dropped, sessions } = lend();
    let retired = false;
    const lent = await borrowed(sessions, host(), AbortSignal.timeout(1000), () => retired);
    retired = true;
    await lent.close();
    expect(dropped).toEqual([]);
  });
});
