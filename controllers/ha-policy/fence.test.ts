import { describe, expect, it } from "vitest";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { fence, watchdogMarginMs, type FenceDeps } from "./fence.ts";

const host = (selfFenceAfterSeconds?: number): HostObject =>
  ({ metadata: { name: "h1" }, spec: { datacenter: "dc", driver: "libvirt", endpoint: "qemu:///system", fencing: { method: "Watchdog", timeoutSeconds: 30, ...(selfFenceAfterSeconds ? { watchdog: { selfFenceAfterSeconds } } : {}) } } }) as unknown as HostObject;
const deps = (silentMs: number, leaseMs = 6_000): FenceDeps => ({ secrets: undefined as never, credentialsNamespaces: [], connect: () => Promise.reject(new Error("not used")), heartbeat: () => ({ silentMs, leaseMs }) });

describe("Watchdog fencing (time-based)", () => {
  it("waits until the lease's duration + the watcher's self-fence time + the margin have passed since the last renewal seen", async () => {
    const limit = 6_000 + 5_000 + watchdogMarginMs;
    expect(await fence(host(5), deps(limit - 1))).toMatchObject({ confirmed: false, waiting: true });
    const done = await fence(host(5), deps(limit));
    expect(done).toMatchObject({ confirmed: true });
    expect(done.message).toMatch(/^time-based \(Watchdog\)/);
  });

  it("defaults to a 10 s self-fence", async () => {
    expect(await fence(host(), deps(6_000 + 10_000 + watchdogMarginMs - 1))).toMatchObject({ waiting: true });
    expect(await fence(host(), deps(6_000 + 10_000 + watchdogMarginMs))).toMatchObject({ confirmed: true });
  });

  it("is Blocked when no heartbeat is followed", async () => {
    const { heartbeat: _h, ...without } = deps(0);
    expect(await fence(host(), without)).toMatchObject({ confirmed: false, reason: "FenceUnsupported" });
  });
});
