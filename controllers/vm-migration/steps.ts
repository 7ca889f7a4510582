// One pass over a VMMigration: Pending (within the limits?) → Scheduling (the target) → Running
// (the hypervisor's job, its progress in status) → Succeeded once the VirtualMachine controller
// has recorded the VM on the target; Failed with a reason a person can act on; Cancelled when the
// VMMigration (or its VM) is deleted mid-flight. Before a job starts, phase Running with source and
// target is written: from then on the VM controller neither recreates the VM nor places it again.
import { errorKind, type Session, type VmIdentity, type VmObservation } from "../../drivers/contract/index.ts";
import type { MigrationPhase, VMMigrationStatus } from "../../src/api/index.ts";
import type { DatacenterObject, HostObject, VmMigrationObject, VmObject } from "../../src/fleet/kinds.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { movedVmKey } from "../../src/fleet/moves.ts";
import { identityOf } from "../../src/fleet/vm-identity.ts";
import type { ReconcileContext, ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError } from "../../src/runtime/log.ts";
import { runMove, type MoveJobs } from "./jobs.ts";
import type { TargetChoice } from "./target.ts";

export type Ctx = ReconcileContext<VmMigrationObject, VMMigrationStatus>;

export interface MigrationEnv {
  sessions: HostSessions;
  jobs: MoveJobs;
  vm(key: string): VmObject | undefined;
  host(name: string): HostObject | undefined;
  datacenter(name: string): DatacenterObject | undefined;
  /** Other unfinished VMMigrations of the same VM. */
  othersInFlight(ctx: Ctx): VmMigrationObject[];
  /** Why this move must wait for the limits; undefined: it may start (and is counted from now). */
  admit(ctx: Ctx, source: string): string | undefined;
  chooseTarget(vm: VmObject, source: HostObject, wanted: string | undefined): TargetChoice;
  /** Wakes this VMMigration (its job ended). */
  wake(key: string): void;
  /** Keys of VMMigrations whose cancel was asked of the hypervisor already. */
  cancelled: Set<string>;
  /** When a move's VM was first seen on neither host (since this process runs). */
  missingSince: Map<string, number>;
}

const progressEveryMs = 500;
/** How long after a successful job a target may still not show the VM before it counts as lost. */
const targetLagMs = 30_000;
/** How long a move's VM must stay on neither host before it counts as lost. */
const lostAfterMs = 60_000;

function set(ctx: Ctx, phase: MigrationPhase, reason: string, message: string): void {
  ctx.status.phase = phase;
  const done = phase === "Succeeded";
  ctx.setCondition({ type: "Ready", status: done ? "True" : "False", reason, message });
}

function finish(ctx: Ctx, env: MigrationEnv, phase: "Succeeded" | "Failed" | "Cancelled", reason: string, message: string): void {
  set(ctx, phase, reason, message);
  ctx.status.completedAt = new Date().toISOString();
  if (phase !== "Succeeded") delete ctx.status.progress;
  ctx.event(phase === "Failed" ? "Warning" : "Normal", phase === "Succeeded" ? "Succeeded" : reason, message);
  env.jobs.forget(ctx.key);
  env.cancelled.delete(ctx.key);
  env.missingSince.delete(ctx.key);
}

const fail = (ctx: Ctx, env: MigrationEnv, reason: string, message: string): void => finish(ctx, env, "Failed", reason, message);


/** Why a VM on this driver cannot move this way; undefined: it can. */
export function cannotMove(driver: string, liveMigration: boolean, mode: "Live" | "Cold"): { reason: string; message: string } | undefined {
  if (driver === "docker") {
    return mode === "Live"
      ? { reason: "LiveMigrationUnsupported", message: "Docker cannot live-migrate a running container; a cold move (spec.live: false) makes it again from its image on the target host — a restart, its writable layer stays behind" }
      : undefined;
  }
  if (driver === "esxi") {
    return { reason: mode === "Live" ? "LiveMigrationUnsupported" : "ColdMoveUnsupported", message: "a standalone ESXi host (no vCenter) has no vMotion and cannot hand a VM to another host" };
  }
  if (!liveMigration) return { reason: "MigrationUnsupported", message: `this ${driver} host cannot migrate VMs (its driver connection does not offer migration)` };
  return undefined;
}

/** Pending or Scheduling: wait for the limits, choose the target, record both ends (phase Running). */
export async function schedule(ctx: Ctx, env: MigrationEnv): Promise<ReconcileResult | void> {
  const { spec } = ctx.object;
  const vm = env.vm(movedVmKey(ctx.object));
  if (!vm) return fail(ctx, env, "VirtualMachineNotFound", `VirtualMachine ${spec.virtualMachine} does not exist in namespace ${ctx.object.metadata.namespace ?? ""}`);
  if (vm.metadata.deletionTimestamp) return finish(ctx, env, "Cancelled", "VirtualMachineDeleted", `VirtualMachine ${spec.virtualMachine} is being deleted`);
  const earlier = env.othersInFlight(ctx);
  if (earlier.length > 0) {
    return fail(ctx, env, "AlreadyMoving", `VirtualMachine ${spec.virtualMachine} is already being moved by VMMigration ${earlier.map((m) => m.metadata.name).join(", ")}; delete that one to cancel it`);
  }
  const sourceName = vm.status?.host;
  const source = sourceName ? env.host(sourceName) : undefined;
  if (!sourceName || !source || !vm.status?.conditions?.some((c) => c.type === "Created" && c.status === "True")) {
    set(ctx, "Pending", "VirtualMachineNotPlaced", `VirtualMachine ${spec.virtualMachine} is not on a host yet; waiting for it to be created`);
    return { requeueAfterMs: 5_000 };
  }
  const running = vm.status.powerState === "Running" || vm.status.powerState === "Paused";
  const mode = spec.live && running ? "Live" : "Cold";
  const session = await env.sessions.session(source, ctx.signal);
  const refused = cannotMove(source.spec.driver, session.capabilities().liveMigration, mode);
  if (refused) return fail(ctx, env, refused.reason, `${spec.virtualMachine} cannot move from host ${sourceName}: ${refused.message}`);
  const waiting = env.admit(ctx, sourceName);
  if (waiting) {
    set(ctx, "Pending", "WaitingForLimits", `waiting: ${waiting}`);
    return { requeueAfterMs: 5_000 };
  }
  ctx.status.sourceHost = sourceName;
  // Scheduling is not written on its own: the choice is made from the caches in this pass, and
  // begin() writes both ends with phase Running at once — one status write fewer before the
  // hypervisor's job (a move's wall time; bench/migration.ts).
  const choice = env.chooseTarget(vm, source, spec.targetHost);
  if ("failed" in choice) return fail(ctx, env, choice.failed, choice.message);
  return begin(ctx, env, vm, choice, mode);
}

/** Records both ends (phase Running) on the server, then starts the hypervisor's job. */
async function begin(ctx: Ctx, env: MigrationEnv, vm: VmObject, choice: { host: string; message: string }, mode: "Live" | "Cold"): Promise<ReconcileResult | void> {
  const { spec } = ctx.object;
  const sourceName = ctx.status.sourceHost ?? "?";
  ctx.status.targetHost = choice.host;
  ctx.status.mode = mode;
  set(ctx, "Running", "Starting", `moving ${mode.toLowerCase()} from host ${sourceName} to host ${choice.host}: ${choice.message}`);
  ctx.event("Normal", "Scheduled", `moving ${spec.virtualMachine} ${mode.toLowerCase()} from host ${sourceName} to host ${choice.host} (${choice.message})`);
  // Both ends on the server before any hypervisor call: what the VM controller and a restarted
  // manager go by (ADR 0019).
  await ctx.writeStatus();
  if (ctx.signal.aborted) return;
  const found = await ends(ctx, env, vm);
  if (typeof found === "string") return fail(ctx, env, "HostGone", found);
  start(ctx, env, found);
  return { requeueAfterMs: progressEveryMs };
}

interface Ends {
  vm: VmObject;
  identity: VmIdentity;
  source: Session;
  target: Session;
  sourceHost: HostObject;
  targetHost: HostObject;
}

async function ends(ctx: Ctx, env: MigrationEnv, vm: VmObject): Promise<Ends | string> {
  const { sourceHost: from, targetHost: to } = ctx.status;
  const sourceHost = from ? env.host(from) : undefined;
  const targetHost = to ? env.host(to) : undefined;
  if (!sourceHost) return `the source host ${from ?? "?"} does not exist any more`;
  if (!targetHost) return `the target host ${to ?? "?"} does not exist any more`;
  const [source, target] = await Promise.all([env.sessions.session(sourceHost, ctx.signal), env.sessions.session(targetHost, ctx.signal)]);
  return { vm, identity: identityOf(vm), source, target, sourceHost, targetHost };
}

/** The VM as each end sees it: the source by its identity, the target by uid only. */
function whereIs(found: Ends): Promise<[VmObservation | undefined, VmObservation | undefined]> {
  return Promise.all([found.source.observeVm(found.identity), found.target.observeVm({ ...found.identity, externalId: undefined })]);
}

/** Running: start the job (or find the one running since before a restart), report its progress, and finish. */
export async function follow(ctx: Ctx, env: MigrationEnv): Promise<ReconcileResult | void> {
  const vm = env.vm(movedVmKey(ctx.object));
  const target = ctx.status.targetHost;
  if (!vm) return fail(ctx, env, "VirtualMachineNotFound", `VirtualMachine ${ctx.object.spec.virtualMachine} was deleted during the move`);
  const job = env.jobs.get(ctx.key);
  // recorded on the target, and the hypervisor's job (if this process runs it) has ended
  if (vm.status?.host === target && job?.state !== "running") return succeed(ctx, env);
  const found = await ends(ctx, env, vm);
  if (typeof found === "string") return fail(ctx, env, "HostGone", found);
  if (vm.metadata.deletionTimestamp) return cancel(ctx, env, found, `VirtualMachine ${vm.metadata.name} is being deleted`);
  if (job?.state === "running") return progress(ctx, found);
  if (job?.state === "done" && job.result.downtimeMs !== undefined) ctx.status.downtimeMs = Math.round(job.result.downtimeMs);
  // This process's job just succeeded: the driver's word that the VM runs on the target. Looking at
  // both ends first would change nothing (look() hands over in every case then) and would only
  // delay the hand-over, which the VM controller makes by its own look at both ends.
  if (justMoved(job)) {
    env.missingSince.delete(ctx.key);
    return handingOver(ctx, found);
  }
  return look(ctx, env, found, job);
}

/** No job of this process is running: where the VM is decides what comes next. */
async function look(ctx: Ctx, env: MigrationEnv, found: Ends, job: ReturnType<MoveJobs["get"]>): Promise<ReconcileResult | void> {
  const [atSource, atTarget] = await whereIs(found);
  if (atSource || atTarget) env.missingSince.delete(ctx.key);
  if (!atSource && atTarget) return handingOver(ctx, found);
  const runningThere = await found.source.migrationProgress(found.identity);
  if (runningThere) return progress(ctx, found, runningThere); // a job from before a restart, or one still ending
  if (!atSource) return onNeither(ctx, env, found, job);
  if (job?.state === "failed") return failed(ctx, env, job.error);
  if (job?.state === "done") return handingOver(ctx, found); // the driver says moved; the next look confirms
  start(ctx, env, found);
  return { requeueAfterMs: progressEveryMs };
}

/** This process's job failed and the VM is still on the source. */
function failed(ctx: Ctx, env: MigrationEnv, error: unknown): void {
  const why = describeError(error);
  const from = ctx.status.sourceHost ?? "?";
  if ((error as { reason?: string }).reason === "migration-cancelled") {
    return finish(ctx, env, "Cancelled", "CancelledOnHost", `the hypervisor's migration job was cancelled on host ${from} (${why}); the VM stays there`);
  }
  const reason = errorKind(error) === "unsupported" ? "Unsupported" : "MigrationFailed";
  fail(ctx, env, reason, `moving from host ${from} to host ${ctx.status.targetHost ?? "?"} failed: ${why}; the VM stays on host ${from}`);
}

/**
 * The VM is on neither host. One look is not enough to call it lost: a Failed move lets the VM
 * controller make the VM again on the source, so a VM that a lagging host does not show yet would
 * be doubled. Right after this process's job succeeded the target is given time (migrateVm resolves
 * once the VM runs there, but Hyper-V believes a miss by uid for one Get-VM poll, 2 s, and a VM
 * that came by Move-VM is such a miss); otherwise it is looked for again for lostAfterMs.
 */
function onNeither(ctx: Ctx, env: MigrationEnv, found: Ends, job: ReturnType<MoveJobs["get"]>): ReconcileResult | void {
  if (justMoved(job)) return handingOver(ctx, found);
  const where = `the VM is on neither host ${ctx.status.sourceHost ?? "?"} nor host ${ctx.status.targetHost ?? "?"}`;
  const since = env.missingSince.get(ctx.key) ?? Date.now();
  env.missingSince.set(ctx.key, since);
  if (Date.now() - since < lostAfterMs) {
    set(ctx, "Running", "Searching", `${where} right now; looking again (lost after ${lostAfterMs / 1000} s)`);
    return { requeueAfterMs: 2_000 };
  }
  const after = job?.state === "failed" ? ` (the move failed: ${describeError(job.error)})` : "";
  fail(ctx, env, "VirtualMachineLost", `${where}${after}; its VirtualMachine controller makes it again`);
}

/** This process's job succeeded less than targetLagMs ago. */
function justMoved(job: ReturnType<MoveJobs["get"]>): boolean {
  return job?.state === "done" && Date.now() - job.endedAt < targetLagMs;
}

function start(ctx: Ctx, env: MigrationEnv, found: Ends): void {
  const resumed = ctx.status.startedAt !== undefined;
  ctx.status.startedAt ??= new Date().toISOString();
  const mode = ctx.status.mode ?? "Live";
  const { spec } = ctx.object;
  env.jobs.start(
    ctx.key,
    (signal) =>
      runMove({
        vm: found.vm,
        identity: found.identity,
        mode,
        source: found.source,
        target: found.target,
        targetHost: found.targetHost,
        datacenter: env.datacenter(found.targetHost.spec.datacenter),
        migrationTarget: async () => ({ ...(await env.sessions.migrationTarget(found.targetHost, mode === "Live")), ...(spec.bandwidthMiBps !== undefined ? { bandwidthMiBps: spec.bandwidthMiBps } : {}) }),
        signal,
      }),
    () => env.wake(ctx.key),
  );
  set(ctx, "Running", "Migrating", `moving ${mode.toLowerCase()} from host ${found.sourceHost.metadata.name} to host ${found.targetHost.metadata.name}${resumed ? " (started again after the manager restarted)" : ""}`);
  ctx.event("Normal", resumed ? "Resumed" : "Started", `${resumed ? "started again" : "started"}: ${mode.toLowerCase()} move from host ${found.sourceHost.metadata.name} to host ${found.targetHost.metadata.name}`);
}

async function progress(ctx: Ctx, found: Ends, known?: Awaited<ReturnType<Session["migrationProgress"]>>): Promise<ReconcileResult> {
  const now = known ?? (await found.source.migrationProgress(found.identity));
  if (now) {
    ctx.status.progress = { ...now, percent: Math.max(0, Math.min(100, Math.round(now.percent))), observedAt: new Date().toISOString() };
    set(ctx, "Running", "Migrating", `moving from host ${found.sourceHost.metadata.name} to host ${found.targetHost.metadata.name}: ${ctx.status.progress.percent}%`);
  }
  return { requeueAfterMs: progressEveryMs };
}

/** The VM runs on the target and no longer on the source: the VM controller records it there. */
function handingOver(ctx: Ctx, found: Ends): ReconcileResult {
  const was = ctx.status.progress;
  ctx.status.progress = was ? { ...was, percent: 100, ...(was.memoryTotalBytes !== undefined ? { memoryRemainingBytes: 0 } : {}) } : { percent: 100, observedAt: new Date().toISOString() };
  set(ctx, "Running", "HandingOver", `the VM runs on host ${found.targetHost.metadata.name}; waiting for its VirtualMachine to record the new host`);
  return { requeueAfterMs: 1_000 };
}

function succeed(ctx: Ctx, env: MigrationEnv): void {
  const took = ctx.status.startedAt ? ((Date.now() - Date.parse(ctx.status.startedAt)) / 1000).toFixed(1) : undefined;
  const downtime = ctx.status.downtimeMs !== undefined ? `, downtime ${ctx.status.downtimeMs} ms` : "";
  finish(ctx, env, "Succeeded", "Succeeded", `moved from host ${ctx.status.sourceHost ?? "?"} to host ${ctx.status.targetHost ?? "?"}${took ? ` in ${took} s` : ""}${downtime}`);
}

/**
 * Stops the move: the hypervisor's job is aborted and awaited; the VM stays on the source. Too
 * late (it already runs on the target): that is recorded instead, and the hand-over goes on.
 */
export async function cancel(ctx: Ctx, env: MigrationEnv, found: Ends, why: string): Promise<ReconcileResult | void> {
  const job = env.jobs.get(ctx.key);
  const running = job?.state === "running" || (await found.source.migrationProgress(found.identity)) !== undefined;
  if (running) {
    if (!env.cancelled.has(ctx.key)) {
      try {
        await found.source.cancelMigration(found.identity);
      } catch (err) {
        // too late: it finished moving meanwhile; the next pass finds it on the target
        if (errorKind(err) !== "invalid-transition") throw err;
      }
      env.cancelled.add(ctx.key);
      set(ctx, "Running", "Cancelling", `cancelling: ${why}`);
    }
    return { requeueAfterMs: progressEveryMs };
  }
  const [atSource, atTarget] = await whereIs(found);
  if (!atSource && atTarget) {
    // It got there before the cancel. A VM being deleted is removed from both hosts by its
    // controller; any other stays where it is now, recorded there before this move lets go.
    if (found.vm.metadata.deletionTimestamp) return finish(ctx, env, "Cancelled", "CancelledTooLate", `${why}; the move had already finished: the VM on host ${found.targetHost.metadata.name} goes with its VirtualMachine`);
    if (ctx.status.conditions?.find((c) => c.type === "Ready")?.reason !== "HandingOver") ctx.event("Normal", "CancelledTooLate", `${why}, but the move had already finished: the VM runs on host ${found.targetHost.metadata.name}`);
    return handingOver(ctx, found);
  }
  finish(ctx, env, "Cancelled", "Cancelled", `${why}; the VM stays on host ${found.sourceHost.metadata.name}`);
}

/** Deletion of the VMMigration: a move in flight is cancelled first. True once nothing runs. */
export async function cancelForDeletion(ctx: Ctx, env: MigrationEnv): Promise<ReconcileResult | "done"> {
  const phase = ctx.status.phase ?? "Pending";
  if (phase !== "Running") {
    if (phase === "Pending" || phase === "Scheduling") finish(ctx, env, "Cancelled", "Cancelled", "the VMMigration was deleted before the move started");
    return "done";
  }
  const vm = env.vm(movedVmKey(ctx.object));
  if (!vm) return "done";
  if (vm.status?.host === ctx.status.targetHost) {
    succeed(ctx, env);
    return "done";
  }
  const found = await ends(ctx, env, vm);
  if (typeof found === "string") {
    fail(ctx, env, "HostGone", found);
    return "done";
  }
  const result = await cancel(ctx, env, found, "the VMMigration was deleted");
  return ctx.status.phase === "Cancelled" ? "done" : (result ?? { requeueAfterMs: progressEveryMs });
}
