import { describe, expect, it } from "vitest";
import { heartbeatFresh, heartbeatKey } from "./heartbeat-lease.ts";

const lease = (renewTime: string | undefined, leaseDurationSeconds: number | undefined) => ({ metadata: { name: "l" }, spec: { holderIdentity: "w", ...(renewTime ? { renewTime } : {}), ...(leaseDurationSeconds !== undefined ? { leaseDurationSeconds } : {}) } });

describe("status watcher heartbeat", () => {
  const now = Date.parse("2026-11-22T12:00:30.000000Z");
  it("is fresh while renewed within its duration, stale after, and absent or malformed is stale", () => {
    expect(heartbeatFresh(lease("2026-11-22T12:00:01.500000Z", 30), now)).toBe(true);
    expect(heartbeatFresh(lease("2026-11-22T12:00:00.000000Z", 30), now)).toBe(true);
    expect(heartbeatFresh(lease("2026-11-22T11:59:59.000000Z", 30), now)).toBe(false);
    expect(heartbeatFresh(undefined, now)).toBe(false);
    expect(heartbeatFresh(lease(undefined, 30), now)).toBe(false);
    expect(heartbeatFresh(lease("2026-11-22T12:00:20.000000Z", undefined), now)).toBe(false);
    expect(heartbeatFresh(lease("not a time", 30), now)).toBe(false);
  });

  it("is found under the name the status watcher renews", () => {
    expect(heartbeatKey("omnivisor-system", "kvm-1")).toBe("omnivisor-system/omnivisor-host-kvm-1");
  });
});
