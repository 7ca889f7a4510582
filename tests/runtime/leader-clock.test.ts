// Scenario: the wall clock is stepped (NTP, a VM resumed, an admin) while two replicas share a
// Lease. Leader election times lease expiry and the renew deadline on a monotonic clock, so:
//   when  the wall clock jumps an hour ahead, and later two hours back
//   then  the leader keeps leading (it does not think its renewals are overdue), and the standby
//         does not take over (it does not think the leader's record has gone stale).
// Both electors run in this process against the real API server; only Date is faked.
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { LeaderElector } from "../../src/runtime/leader-election.ts";
import { createLogger } from "../../src/runtime/log.ts";
import { kubectl } from "./fixtures/widgets.ts";

const admin = inject("kubeconfig");
const ns = `rt-clock-${process.pid}`;
const lease = "clock-jump";
const lines: string[] = [];
const log = createLogger({ level: "info", write: (line) => void lines.push(line) });
const settings = { namespace: ns, name: lease, leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };

beforeAll(async () => {
  await kubectl(admin, ["create", "namespace", ns]);
});

afterAll(async () => {
  vi.useRealTimers();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
});

const holder = (): Promise<string> => kubectl(admin, ["get", "lease", "-n", ns, lease, "-o", "jsonpath={.spec.holderIdentity}"]);

describe("leader election across wall-clock jumps", () => {
  it("when the wall clock jumps an hour ahead and then two hours back, then the leader keeps the lease and the standby waits", async () => {
    const kc = loadKubeConfig(admin);
    const a = new LeaderElector(kc, log, { ...settings, identity: "replica-a" });
    const b = new LeaderElector(kc, log, { ...settings, identity: "replica-b" });
    const stop = new AbortController();
    expect(await a.acquire(AbortSignal.timeout(15_000))).toBe(true);
    let aLost = false;
    const holding = a.holdUntilLost(stop.signal).then(() => void (aLost = !stop.signal.aborted));
    let bWon = false;
    const standby = b.acquire(stop.signal).then((won) => void (bWon = won));
    try {
      vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
      for (const jumpMs of [3_600_000, -7_200_000]) {
        vi.setSystemTime(Date.now() + jumpMs);
        // longer than the lease and the renew deadline, as both replicas' monotonic clocks count
        await new Promise((r) => setTimeout(r, 8_000));
        expect(aLost, `the leader gave up after a ${jumpMs / 3_600_000} h jump`).toBe(false);
        expect(bWon, `the standby took over after a ${jumpMs / 3_600_000} h jump`).toBe(false);
        expect(a.isLeader).toBe(true);
        expect(await holder()).toBe("replica-a");
      }
    } finally {
      vi.useRealTimers();
      stop.abort();
      await Promise.all([holding, standby]);
      await a.release();
    }
  });
});
