import { describe, expect, it } from "vitest";
import type { Session, VmObservation } from "../../drivers/contract/index.ts";
import { createLogger } from "../runtime/log.ts";
import { SelfFence } from "./self-fence.ts";

/** A host's VMs as a listing shows them; setPower stops one. (The real hypervisor: tests/ha/watchdog.test.ts.) */
function host(vms: { name: string; managed: boolean }[]) {
  const state = new Map(vms.map((v) => [v.name, "Running"]));
  const stops: string[] = [];
  const session = {
    listVms: () => Promise.resolve(vms.map((v) => ({ name: v.name, externalId: v.name, managed: v.managed, power: state.get(v.name)!, ...(v.managed ? { identity: { uid: v.name, name: v.name } } : {}) }) as VmObservation)),
    setPower: (id: { name: string }) => {
      stops.push(id.name);
      state.set(id.name, "Stopped");
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  } as unknown as Session;
  return { session, stops, state };
}

async function waitUntil(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
}

const quiet = createLogger({ level: "error", write: () => undefined });

describe("the status watcher's self-fence (Watchdog)", () => {
  it("destroys only managed VMs, only once the heartbeat has not been renewed for selfFenceAfterSeconds, and again when one runs while the silence lasts", async () => {
    const h = host([{ name: "a", managed: true }, { name: "b", managed: true }, { name: "mine", managed: false }]);
    let renewed = true;
    const lastRenewedAt = (): number => (renewed ? performance.now() : silentSince);
    let silentSince = 0;
    const fence = new SelfFence({ host: "h1", afterMs: 150, lastRenewedAt, connect: () => Promise.resolve(h.session), log: quiet, tickMs: 10 });
    const stop = new AbortController();
    const running = fence.run(stop.signal);
    await new Promise((r) => setTimeout(r, 300)); // renewed all along: nothing happens
    expect(h.stops).toEqual([]);
    silentSince = performance.now() - 1_000; // the last renewal was a second ago
    renewed = false;
    await waitUntil(() => h.stops.length === 2);
    expect(h.stops.sort()).toEqual(["a", "b"]);
    expect(h.state.get("mine")).toBe("Running");
    expect(fence.confirmedAt).toBeDefined();
    h.state.set("a", "Running"); // started again while still silent
    await waitUntil(() => h.stops.length === 3);
    expect(h.stops.filter((n) => n === "a")).toHaveLength(2);
    renewed = true; // renewed again: the fence is over
    await waitUntil(() => fence.confirmedAt === undefined);
    stop.abort();
    await running;
    expect(fence.destroyed).toBe(3);
  });
});
