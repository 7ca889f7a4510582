import { describe, expect, it } from "vitest";
import { HeartbeatClock, heartbeatKey } from "./heartbeat-lease.ts";

const lease = (renewTime: string, leaseDurationSeconds = 6) => ({ metadata: { name: "l", labels: { "omnivisor.io/host": "kvm-1" } }, spec: { holderIdentity: "w", renewTime, leaseDurationSeconds } });

describe("status watcher heartbeat, judged by this process's clock", () => {
  it("counts silence from the last change this process saw, whatever the lease's own time says", () => {
    let now = 1_000;
    const clock = new HeartbeatClock(() => now);
    // a renewTime far in the future (the watcher's clock runs ahead) is not "fresh" for longer
    clock.observe("kvm-1", lease("2099-01-01T00:00:00.000000Z"));
    expect(clock.fresh("kvm-1")).toBe(true);
    now += 5_000;
    expect(clock.silentForMs("kvm-1")).toBe(5_000);
    now += 2_000;
    expect(clock.fresh("kvm-1")).toBe(false); // 7 s > 6 s duration, though renewTime is "ahead"
    // the same version seen again is not a renewal
    clock.observe("kvm-1", lease("2099-01-01T00:00:00.000000Z"));
    expect(clock.silentForMs("kvm-1")).toBe(7_000);
    // a renewTime in the past (the watcher's clock runs behind) still counts as a renewal now
    clock.observe("kvm-1", lease("1999-01-01T00:00:00.000000Z"));
    expect(clock.silentForMs("kvm-1")).toBe(0);
    expect(clock.fresh("kvm-1")).toBe(true);
    expect(clock.intervalMs("kvm-1")).toBe(2_000);
  });

  it("gives a host it never saw one full allowance from the first question", () => {
    let now = 0;
    const clock = new HeartbeatClock(() => now);
    expect(clock.silentForMs("new")).toBe(0);
    now = 3_000;
    expect(clock.silentForMs("new")).toBe(3_000);
    expect(clock.fresh("new")).toBe(false);
  });

  it("is found under the name the status watcher renews", () => {
    expect(heartbeatKey("omnivisor-system", "kvm-1")).toBe("omnivisor-system/omnivisor-host-kvm-1");
  });
});
