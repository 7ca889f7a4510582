// A host's failover as a state table (baremetal-operator's style): each phase has one handler
// that looks at the world and returns the next phase, or stays. The record lives in the
// HAPolicy's status (failoversInProgress), never only in memory, so a restarted manager resumes
// where the last one stopped; what is kept in memory (when this process saw the lease change,
// when it last probed or fenced) only paces the work and is rebuilt after a restart.
//
//   Healthy ──silent for missedHeartbeats──► Suspect ──probe fails──► Fencing ──confirmed──► Fenced
//      ▲                                        │ probe answers / lease renewed     │ not confirmed
//      └────────────────────────────────────────┘                                   ▼
//                                                                                 Blocked (retried;
//   Fenced ──► Restarting (by priority, maxConcurrentRestarts) ──► Completed      fence, capacity)
//   Completed ──the host's lease renews again──► record dropped (the host is back)
import type { Failover } from "../../src/fleet/failovers.ts";

export type Phase = Failover["phase"];

/** What a handler may do to the record: keep it, move it on, or drop it (the host is healthy again). */
export type Transition =
  | { kind: "stay"; patch?: Partial<Failover> }
  | { kind: "next"; phase: Phase; patch?: Partial<Failover>; event?: { type: "Normal" | "Warning"; reason: string; message: string } }
  | { kind: "drop"; event?: { type: "Normal" | "Warning"; reason: string; message: string } };

export type Handler<H> = (host: H, record: Failover) => Promise<Transition>;

/** Runs handlers until the record stays or is dropped (a host may go Fencing → Fenced → Restarting in one pass). */
export async function advance<H>(table: Record<Phase, Handler<H>>, host: H, start: Failover, apply: (record: Failover | undefined, t: Transition) => Promise<void>): Promise<Failover | undefined> {
  let record = start;
  for (let step = 0; step < 8; step++) {
    const t = await table[record.phase](host, record);
    if (t.kind === "drop") {
      await apply(undefined, t);
      return undefined;
    }
    const next: Failover = { ...record, ...(t.patch ?? {}), ...(t.kind === "next" ? { phase: t.phase } : {}) };
    await apply(next, t);
    if (t.kind === "stay" || t.phase === record.phase) return next;
    record = next;
  }
  return record;
}
