// Scenario: a libvirt host serves a client connection only a few calls at a time
// (max_client_requests, 5 by default), so the driver spreads calls over a few connections.
//   given  a remote connection to the real libvirtd
//   when   30 calls are made at once
//   then   every call gets its own answer, and more connections were opened (at most the pool's size);
//   given  libvirt's test driver (a simulated host per connection)
//   then   it stays on one connection, whatever the load.
import { afterEach, describe, expect, it } from "vitest";
import { LibvirtRemote } from "../../drivers/libvirt/rpc/remote.ts";
import { waitFor } from "../../src/local/wait.ts";
import { libvirtUri, requireLibvirt } from "../harness/services.ts";

let remote: LibvirtRemote | undefined;
afterEach(async () => {
  await remote?.closeGracefully();
  remote = undefined;
});

describe("libvirt: a few connections per host", () => {
  it("given 30 calls at once, then each is answered and they spread over up to 4 connections", async () => {
    await requireLibvirt();
    remote = await LibvirtRemote.open(libvirtUri, AbortSignal.timeout(10_000));
    expect(remote.connections).toBe(1);
    const hostname = await remote.getHostname();
    const answers = await Promise.all(Array.from({ length: 30 }, () => remote!.getHostname()));
    expect(answers).toEqual(Array.from({ length: 30 }, () => hostname));
    await waitFor("a second connection", () => (remote!.connections > 1 ? true : undefined), { timeoutMs: 10_000 });
    // a second burst runs on the pool
    const more = await Promise.all(Array.from({ length: 60 }, () => remote!.nodeGetInfo()));
    expect(new Set(more.map((i) => i.cpus)).size).toBe(1);
    expect(remote.connections).toBeLessThanOrEqual(4);
  });

  it("given the test driver, then one connection only (each would be a simulated host of its own)", async () => {
    await requireLibvirt();
    remote = await LibvirtRemote.open("test+unix:///default?socket=/run/libvirt/libvirt-sock", AbortSignal.timeout(10_000));
    await Promise.all(Array.from({ length: 30 }, () => remote!.getHostname()));
    await new Promise((r) => setTimeout(r, 200));
    expect(remote.connections).toBe(1);
  });
});
