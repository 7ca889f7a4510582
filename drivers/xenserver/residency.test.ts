import { describe, expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";
import type { HostRecord } from "./host.ts";
import { holderOf, hostNamed, PoolView } from "./residency.ts";

const NULL = "OpaqueRef:NULL";
const pool = { master: "OpaqueRef:m", hosts: new Set(["OpaqueRef:m", "OpaqueRef:b"]) };
const host = (hostname: string, address: string): HostRecord => ({ name_label: hostname, hostname, address, software_version: {}, cpu_info: {}, host_CPUs: [], metrics: NULL });

describe("which host of the pool holds a VM", () => {
  it("running or paused: the host it is resident on, whatever its affinity", () => {
    expect(holderOf({ power_state: "Running", resident_on: "OpaqueRef:b", affinity: "OpaqueRef:m" }, pool)).toBe("OpaqueRef:b");
    expect(holderOf({ power_state: "Paused", resident_on: "OpaqueRef:b", affinity: NULL }, pool)).toBe("OpaqueRef:b");
  });

  it("halted or suspended (resident nowhere): the host its affinity names", () => {
    expect(holderOf({ power_state: "Halted", resident_on: NULL, affinity: "OpaqueRef:b" }, pool)).toBe("OpaqueRef:b");
    expect(holderOf({ power_state: "Suspended", resident_on: NULL, affinity: "OpaqueRef:b" }, pool)).toBe("OpaqueRef:b");
  });

  it("halted without affinity, or with one naming a host no longer in the pool: the pool master", () => {
    expect(holderOf({ power_state: "Halted", resident_on: NULL, affinity: NULL }, pool)).toBe("OpaqueRef:m");
    expect(holderOf({ power_state: "Halted", resident_on: NULL }, pool)).toBe("OpaqueRef:m");
    expect(holderOf({ power_state: "Halted", resident_on: NULL, affinity: "OpaqueRef:ejected" }, pool)).toBe("OpaqueRef:m");
  });
});

describe("the pool host an endpoint names", () => {
  const hosts = { "OpaqueRef:m": host("xcp-1", "10.0.0.1"), "OpaqueRef:b": host("xcp-2.lab.example", "10.0.0.2") };

  it("by address, by host name (case aside), by a fully qualified name whose first label is the host name, or the reverse", async () => {
    expect((await hostNamed(hosts, "10.0.0.2"))?.[0]).toBe("OpaqueRef:b");
    expect((await hostNamed(hosts, "XCP-1"))?.[0]).toBe("OpaqueRef:m");
    expect((await hostNamed(hosts, "xcp-1.lab.example"))?.[0]).toBe("OpaqueRef:m");
    expect((await hostNamed(hosts, "xcp-2"))?.[0]).toBe("OpaqueRef:b");
  });

  it("none: an address of no host, or a name in another domain", async () => {
    expect(await hostNamed(hosts, "10.0.0.9")).toBeUndefined();
    expect(await hostNamed(hosts, "xcp-2.other.example")).toBeUndefined();
  });

  it("a name that resolves to a host's address", async () => {
    expect((await hostNamed({ ...hosts, "OpaqueRef:l": host("xcp-3", "127.0.0.1") }, "localhost"))?.[0]).toBe("OpaqueRef:l");
  });
});

describe("the host a session stands for, at connect", () => {
  const client = (hosts: Record<string, HostRecord>): XapiClient =>
    ({ call: (_what: string, method: string) => Promise.resolve(method === "host.get_all_records" ? hosts : { "OpaqueRef:p": { master: "OpaqueRef:m" } }) }) as unknown as XapiClient;

  it("a pool of one host: that host, whatever the endpoint calls it", async () => {
    expect((await PoolView.open(client({ "OpaqueRef:m": host("xcp-1", "10.0.0.1") }), "xen.lab.example")).self).toBe("OpaqueRef:m");
  });

  it("a pool of several: the one the endpoint names; none named is terminal, listing the pool's hosts", async () => {
    const pool = client({ "OpaqueRef:m": host("xcp-1", "10.0.0.1"), "OpaqueRef:b": host("xcp-2", "10.0.0.2") });
    expect((await PoolView.open(pool, "10.0.0.2")).self).toBe("OpaqueRef:b");
    const err: unknown = await PoolView.open(pool, "10.0.0.9").catch((e: unknown) => e);
    expect([errorKind(err), (err as { reason?: string }).reason]).toEqual(["terminal", "host-not-in-pool"]);
    expect((err as Error).message).toContain("xcp-1 (10.0.0.1), xcp-2 (10.0.0.2)");
  });
});
