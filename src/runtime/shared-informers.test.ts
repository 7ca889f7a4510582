import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it, vi } from "vitest";
import { hostsType, virtualMachinesType } from "../fleet/kinds.ts";
import { createLogger } from "./log.ts";
import { SharedInformers } from "./shared-informers.ts";

// Nothing listens on port 9 of loopback: the caches retry forever, which is all these tests need.
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: "c", server: "https://127.0.0.1:9", skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
const log = createLogger({ level: "error", write: () => undefined });

describe("SharedInformers", () => {
  it("hands every controller the same cache of a kind and namespace", () => {
    const caches = new SharedInformers(kc, log);
    expect(caches.informer(virtualMachinesType, "a")).toBe(caches.informer(virtualMachinesType, "a"));
    expect(caches.informer(virtualMachinesType, "a")).not.toBe(caches.informer(virtualMachinesType, "b"));
    expect(caches.informer(virtualMachinesType)).not.toBe(caches.informer(virtualMachinesType, "a"));
    // a cluster-scoped kind is cached whole, whatever namespace is asked for
    expect(caches.informer(hostsType, "a")).toBe(caches.informer(hostsType));
    expect(caches.size).toBe(4);
  });

  it("keeps a shared cache running until every controller that started it has shut it down", async () => {
    const informer = new SharedInformers(kc, log).informer(hostsType);
    informer.start();
    informer.start();
    await informer.shutdown();
    // still running: it goes on retrying the unreachable server
    const before = informer.stats.watchRestarts;
    await vi.waitFor(() => expect(informer.stats.watchRestarts).toBeGreaterThan(before), { timeout: 5_000 });
    await informer.shutdown();
    const after = informer.stats.watchRestarts;
    await new Promise((r) => setTimeout(r, 500));
    expect(informer.stats.watchRestarts).toBe(after);
  });
});
