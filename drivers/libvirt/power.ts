// Moving a domain toward a power target. Each step is one libvirt call that returns at once;
// a soft stop that must fall back to hard is escalated later by a timer (see Escalations).
import { InvalidTransitionError, type ObservedPower, type PowerTarget } from "../contract/index.ts";
import { isVirError, VirErr } from "./errors.ts";
import type { DomainRef } from "./rpc/protocol.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";

/** Default grace period of a TrySoft stop when the target names none. */
export const DEFAULT_SOFT_DEADLINE_SECONDS = 30;

/** Pending "hard stop if still running at the deadline" timers, one per domain. */
export class Escalations {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  schedule(key: string, afterSeconds: number, escalate: () => Promise<void>): void {
    this.cancel(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      // The VM may be gone or already off by now; either way there is nothing left to do.
      escalate().catch(() => undefined);
    }, afterSeconds * 1000);
    timer.unref();
    this.timers.set(key, timer);
  }

  cancel(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  cancelAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/** Ignores "domain is (not) running" from a call racing with a change made elsewhere. */
async function ignoreNotRunning(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!isVirError(err, VirErr.OPERATION_INVALID)) throw err;
  }
}

export async function applyPower(
  remote: LibvirtRemote,
  dom: DomainRef,
  current: ObservedPower,
  target: PowerTarget,
  escalations: Escalations,
): Promise<void> {
  const key = dom.uuid.toString("hex");
  switch (target.state) {
    case "Running":
      escalations.cancel(key);
      if (current === "Running") return;
      if (current === "Paused") return remote.resume(dom);
      // Started meanwhile by someone else (a racing create, virsh): already where we want it.
      return ignoreNotRunning(remote.createWithFlags(dom).then(() => undefined));
    case "Paused":
      if (current === "Paused") return;
      if (current !== "Running") throw new InvalidTransitionError(`cannot pause ${dom.name}: it is ${current}, not Running`, { reason: "not-running" });
      return remote.suspend(dom);
    case "Stopped":
      return stop(remote, dom, current, target, escalations);
  }
}

async function stop(remote: LibvirtRemote, dom: DomainRef, current: ObservedPower, target: PowerTarget, escalations: Escalations): Promise<void> {
  const key = dom.uuid.toString("hex");
  if (current === "Stopped" || current === "Crashed") return;
  const mode = target.mode ?? "TrySoft";
  const deadline = target.deadlineSeconds ?? DEFAULT_SOFT_DEADLINE_SECONDS;
  if (mode === "Hard" || (mode === "TrySoft" && deadline <= 0)) {
    escalations.cancel(key);
    return ignoreNotRunning(remote.destroy(dom));
  }
  // A paused guest cannot see the power button: let it run so it can shut down.
  if (current === "Paused") await remote.resume(dom);
  await ignoreNotRunning(remote.shutdown(dom));
  if (mode === "TrySoft") escalations.schedule(key, deadline, () => ignoreNotRunning(remote.destroy(dom)));
}
