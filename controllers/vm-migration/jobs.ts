// The hypervisor side of a move, run in the background while the VMMigration's passes read its
// progress: live (the driver's migrateVm), or cold — stop, move, start. Docker cannot move a
// container: a cold move makes it again from its image on the target (a restart; its writable
// layer stays behind and goes with the old container). Every step looks before it acts, so a move
// started again after a crash picks up where the first one stopped.
import type { DatacenterObject, HostObject, VmObject } from "../../src/fleet/kinds.ts";
import type { MigrationResult, MigrationTarget, Session, VmIdentity } from "../../drivers/contract/index.ts";
import { driverSpec, powerTarget } from "../../src/fleet/driver-spec.ts";

export interface MoveJob {
  vm: VmObject;
  identity: VmIdentity;
  mode: "Live" | "Cold";
  source: Session;
  target: Session;
  targetHost: HostObject;
  datacenter: DatacenterObject | undefined;
  /** How the source's daemon reaches the target (live and libvirt-style cold moves). */
  migrationTarget: () => Promise<MigrationTarget>;
  signal: AbortSignal;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

export async function runMove(job: MoveJob): Promise<MigrationResult> {
  if (job.mode === "Live") return job.source.migrateVm(job.identity, await job.migrationTarget());
  return coldMove(job);
}

async function coldMove(job: MoveJob): Promise<MigrationResult> {
  const { source, target, identity, vm } = job;
  const before = await source.observeVm(identity);
  if (!before) return {}; // already gone from the source: the pass looks for it on the target
  const wasRunning = before.power === "Running" || before.power === "Paused";
  if (wasRunning) await stop(job);
  // The target's identity: found there by uid, never by the source's external id.
  const there = { ...identity, externalId: undefined };
  if (job.targetHost.spec.driver === "docker") {
    const spec = driverSpec(vm, "docker", job.datacenter ? { datacenter: job.datacenter } : {});
    await target.createVm(there, { ...spec, power: { state: "Stopped" } });
    await source.deleteVm(identity);
  } else {
    await source.migrateVm(identity, { ...(await job.migrationTarget()), live: false });
  }
  if (wasRunning) await target.setPower(there, { state: "Running" });
  return {};
}

/** Stops the VM as its spec.powerOff says, then pulls the plug once the deadline has passed. */
async function stop(job: MoveJob): Promise<void> {
  const { source, identity, vm, signal } = job;
  const asked = powerTarget(vm, "Stopped");
  await source.setPower(identity, asked);
  const deadline = Date.now() + ((asked.deadlineSeconds ?? 0) + 5) * 1000;
  for (;;) {
    const now = await source.observeVm(identity);
    if (!now || now.power === "Stopped" || now.power === "Crashed") return;
    if (Date.now() > deadline) {
      await source.setPower(identity, { state: "Stopped", mode: "Hard" });
      return;
    }
    await sleep(500, signal);
  }
}

type JobState = { state: "running" } | { state: "done"; result: MigrationResult; endedAt: number } | { state: "failed"; error: unknown };

/** Moves running in this process, by VMMigration key. */
export class MoveJobs {
  private readonly jobs = new Map<string, { state: JobState; abort: AbortController }>();

  start(key: string, run: (signal: AbortSignal) => Promise<MigrationResult>, ended: () => void): void {
    const abort = new AbortController();
    const entry: { state: JobState; abort: AbortController } = { state: { state: "running" }, abort };
    this.jobs.set(key, entry);
    run(abort.signal).then(
      (result) => void (entry.state = { state: "done", result, endedAt: Date.now() }),
      (error: unknown) => void (entry.state = { state: "failed", error }),
    ).finally(ended);
  }

  get(key: string): JobState | undefined {
    return this.jobs.get(key)?.state;
  }

  forget(key: string): void {
    this.jobs.get(key)?.abort.abort(new Error("the move is no longer followed"));
    this.jobs.delete(key);
  }

  /** Stops following every move (the manager stops leading); hypervisor jobs run on, found again by the next leader. */
  stopAll(): void {
    for (const key of [...this.jobs.keys()]) this.forget(key);
  }
}
