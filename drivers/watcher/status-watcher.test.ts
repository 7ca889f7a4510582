// The watcher loop against a scripted in-memory host (the real-daemon scenarios are in
// tests/drivers/): reconnects after a drop and a failed attempt, and reports what it missed.
import { describe, expect, it, vi } from "vitest";
import type { Session, VmEvent, VmObservation } from "../contract/index.ts";
import { RetryableError } from "../contract/index.ts";
import { Backoff } from "./backoff.ts";
import { type ConnectionState, StatusWatcher } from "./status-watcher.ts";

interface Visit {
  list: VmObservation[];
  events: VmEvent[];
}

function vm(externalId: string, power: VmObservation["power"]): VmObservation {
  return { externalId, name: externalId, managed: false, power, cpus: 1, memoryMiB: 64, addresses: [] };
}

/** A host that answers each connection with the next visit: a list, some events, then a drop. */
function scriptedHost(visits: (Visit | "unreachable")[], done: AbortController): (signal: AbortSignal) => Promise<Session> {
  let n = 0;
  return (signal) => {
    const visit = visits[n++];
    if (visit === undefined) {
      done.abort();
      return Promise.reject(new RetryableError("script over"));
    }
    if (visit === "unreachable") return Promise.reject(new RetryableError("connection refused"));
    const session: Partial<Session> = {
      listVms: () => Promise.resolve(visit.list),
      close: () => Promise.resolve(),
      watch: () =>
        Promise.resolve(
          (async function* () {
            await Promise.resolve();
            yield* visit.events;
            if (!signal.aborted) throw new RetryableError("dockerd restarted");
          })(),
        ),
    };
    return Promise.resolve(session as Session);
  };
}

describe("StatusWatcher", () => {
  it("reconnects after a drop, re-lists, and reports what changed while it was away", async () => {
    const done = new AbortController();
    const at = new Date();
    const events: string[] = [];
    const resyncs: boolean[] = [];
    const states: ConnectionState[] = [];
    const watcher = new StatusWatcher({
      connect: scriptedHost(
        [
          { list: [vm("a", "Running")], events: [{ type: "paused", externalId: "a", at }] },
          "unreachable",
          { list: [vm("a", "Stopped"), vm("b", "Running")], events: [{ type: "deleted", externalId: "b", at }] },
        ],
        done,
      ),
      onEvent: (e) => events.push(`${e.type} ${e.externalId}${e.detail === undefined ? "" : " (missed)"}`),
      onResync: (_vms, reconnect) => resyncs.push(reconnect),
      onConnection: (s) => states.push(s),
      backoff: { initialMs: 1, maxMs: 2 },
    });
    await watcher.run(done.signal);

    expect(events).toEqual(["paused a", "stopped a (missed)", "defined b (missed)", "started b (missed)", "deleted b"]);
    expect(resyncs).toEqual([false, true]);
    expect(states.map((s) => `${s.connected ? "up" : "down"}/${s.failures}`)).toEqual(["up/0", "down/1", "down/2", "up/0", "down/1"]);
    expect(watcher.known.all().map((k) => `${k.externalId}=${k.power}`)).toEqual(["a=Stopped"]);
  });

  it("stops and rejects when a callback throws, instead of reconnecting forever", async () => {
    const done = new AbortController();
    const close = vi.fn(() => Promise.resolve());
    const session = { listVms: () => Promise.resolve([]), close, watch: () => Promise.resolve([][Symbol.iterator]() as never) };
    const watcher = new StatusWatcher({
      connect: () => Promise.resolve(session as unknown as Session),
      onEvent: () => undefined,
      onResync: () => {
        throw new Error("consumer bug");
      },
    });
    await expect(watcher.run(done.signal)).rejects.toThrow("consumer bug");
    expect(close).toHaveBeenCalled();
  });

  it("retries a host that accepts and drops every connection ever more slowly; a connection that lasted starts the delays over", async () => {
    const delays = vi.spyOn(Backoff.prototype, "next");
    try {
      const flapping = Array.from({ length: 6 }, () => ({ list: [], events: [] }));
      const done = new AbortController();
      const watcher = new StatusWatcher({
        connect: scriptedHost(flapping, done),
        onEvent: () => undefined,
        backoff: { initialMs: 1, maxMs: 64, random: () => 0.999 },
      });
      await watcher.run(done.signal);
      const asked = delays.mock.results.map((r) => r.value as number);
      // six drops right after connecting, then the script's end: never back to the first delay
      expect(asked.slice(0, 6)).toEqual([1, 2, 4, 8, 16, 32]);

      delays.mockClear();
      const stable = new AbortController();
      const lasting = new StatusWatcher({
        connect: scriptedHost([{ list: [], events: [] }, { list: [], events: [] }], stable),
        onEvent: () => undefined,
        backoff: { initialMs: 1, maxMs: 64, random: () => 0.999 },
        stableAfterMs: 0, // every connection counts as having lasted
      });
      await lasting.run(stable.signal);
      expect(delays.mock.results.map((r) => r.value as number).slice(0, 2)).toEqual([1, 1]);
    } finally {
      delays.mockRestore();
    }
  });
});
