// One pass of an HAPolicy: every host of its pools is looked at — its heartbeat as this process
// saw it change (src/fleet/heartbeat-lease.ts), and the failover record kept in the policy's
// status — and moved on by the state table (failover.ts). Probes and fences of several hosts run
// at the same time; a record is on the server before its host is fenced, so a crash mid-fence
// fences again (idempotent) instead of forgetting it.
import type { Session } from "../../drivers/contract/index.ts";
import type { HAPolicyStatus } from "../../src/api/index.ts";
import { restartPriorityOf, haRestartAnnotation, notRestartable, type Failover, type HAPolicyObject } from "../../src/fleet/failovers.ts";
import type { HeartbeatClock } from "../../src/fleet/heartbeat-lease.ts";
import type { HostObject, HostPoolObject, VmObject } from "../../src/fleet/kinds.ts";
import { poolMembers } from "../../src/fleet/membership.ts";
import { vmKey } from "../../src/fleet/vms-by-host.ts";
import type { ReconcileContext, ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError } from "../../src/runtime/log.ts";
import { advance, type Handler, type Phase, type Transition } from "./failover.ts";
import { fence, type FenceDeps } from "./fence.ts";
import { probe } from "./probe.ts";
import { groupGate, planRestarts, suspectAfterMs } from "./restart.ts";

type Ctx = ReconcileContext<HAPolicyObject, HAPolicyStatus>;

/** What this process remembers per host; only paces the work (the record is in status). */
interface HostMemory {
  /** When (heartbeat clock) this process first saw the host suspected. */
  suspectedAt?: number;
  /** The lease version (its change time) whose silence a probe found answering. */
  answeredFor?: number;
  probedAt?: number;
  fencedTriedAt?: number;
}

export interface HaEnv {
  hosts(): HostObject[];
  host(name: string): HostObject | undefined;
  pools(): HostPoolObject[];
  /** VMs whose status names the host, or whose restart request names it. */
  vmsOf: (host: string) => VmObject[];
  vmByUid: (uid: string) => VmObject | undefined;
  clock: HeartbeatClock;
  memory: Map<string, HostMemory>;
  connect: (host: HostObject, signal: AbortSignal) => Promise<Session>;
  fenceDeps: FenceDeps;
  /** Annotates the VM with the restart request (merge patch, field manager omnivisor-ha). */
  askRestart(vm: VmObject, host: string): Promise<void>;
  fenced: (method: string, result: "confirmed" | "failed") => void;
  /** The policy's failovers by phase, for the metric. */
  phases: (policy: string, counts: Record<string, number>) => void;
  probeTimeoutMs: number;
  /** Between re-probes of a silent host that answered, and between fence attempts while Blocked. */
  retryMs: number;
}

const now = (): string => new Date().toISOString();
const wants = (vm: VmObject): boolean => (vm.spec.powerState ?? "Running") === "Running";

/** The hosts a policy protects: members of its pools. */
export function protectedHosts(policy: HAPolicyObject, env: Pick<HaEnv, "hosts" | "pools">): HostObject[] {
  const hosts = env.hosts();
  const byName = new Map<string, HostObject>();
  for (const pool of env.pools().filter((p) => policy.spec.pools.includes(p.metadata.name))) {
    for (const h of poolMembers(pool, hosts)) byName.set(h.metadata.name, h);
  }
  return [...byName.values()];
}

export async function reconcilePolicy(ctx: Ctx, env: HaEnv): Promise<ReconcileResult> {
  const policy = ctx.object;
  const members = protectedHosts(policy, env);
  const records = new Map((ctx.status.failoversInProgress ?? []).map((f) => [f.host, f]));
  let writing = Promise.resolve();
  const persist = (): Promise<void> => (writing = writing.then(() => ctx.writeStatus()));
  const store = (): void => {
    const list = [...records.values()].sort((a, b) => (a.host < b.host ? -1 : 1));
    if (list.length > 0) ctx.status.failoversInProgress = list;
    else delete ctx.status.failoversInProgress;
  };
  const table = handlers(ctx, env);

  await Promise.all(
    members.map(async (host) => {
      const name = host.metadata.name;
      const record = records.get(name) ?? (await healthy(ctx, env, host));
      if (!record) return;
      await advance(table, host, record, async (next, t) => {
        if (t.kind !== "stay" && t.event) ctx.event(t.event.type, t.event.reason, `host ${name}: ${t.event.message}`);
        if (t.kind !== "stay") ctx.log.info("failover", { host: name, phase: next?.phase ?? "Healthy", ...(t.event ? { reason: t.event.reason, message: t.event.message } : {}) });
        // (memory stays: a probe that found the host answering is not repeated at every pass)
        if (!next) records.delete(name);
        else {
          if (t.kind === "next" && t.phase === "Completed" && records.get(name)?.phase !== "Completed") {
            ctx.status.failoversCompleted = (ctx.status.failoversCompleted ?? 0) + 1;
            ctx.status.lastFailover = next;
          }
          records.set(name, next);
        }
        store();
        // on the server before the fence: a crash mid-fence fences again, never forgets
        if (t.kind === "next" && t.phase === "Fencing") await persist();
      });
    }),
  );
  store();
  await writing;
  summarize(ctx, members, env, records);
  return { requeueAfterMs: 500 }; // heartbeats lapse without an event
}

function summarize(ctx: Ctx, members: HostObject[], env: HaEnv, records: Map<string, Failover>): void {
  const policy = ctx.object;
  ctx.status.protectedHosts = members.length;
  ctx.status.protectedVms = members.flatMap((h) => env.vmsOf(h.metadata.name)).filter((vm) => vm.status?.host !== undefined && wants(vm) && restartPriorityOf(vm, policy.spec) !== "Disabled").length;
  const counts: Record<string, number> = {};
  for (const r of records.values()) counts[r.phase] = (counts[r.phase] ?? 0) + 1;
  env.phases(policy.metadata.name, counts);
  const blocked = [...records.values()].filter((r) => r.phase === "Blocked");
  if (blocked.length > 0) {
    ctx.setCondition({ type: "Ready", status: "False", reason: "FailoverBlocked", message: blocked.map((r) => `host ${r.host}: ${r.message ?? "blocked"}`).join("; ") });
  } else {
    const busy = [...records.values()].filter((r) => r.phase !== "Completed").length;
    ctx.setCondition({ type: "Ready", status: "True", reason: busy > 0 ? "FailingOver" : "Protecting", message: `${members.length} hosts protected${busy > 0 ? `; ${busy} failover(s) under way` : ""}` });
  }
}

/** A host without a record: Suspect once silent too long (strike one), unless a probe of this same silence already found it answering. */
async function healthy(ctx: Ctx, env: HaEnv, host: HostObject): Promise<Failover | undefined> {
  const name = host.metadata.name;
  const silent = env.clock.silentForMs(name);
  const limit = suspectAfterMs(ctx.object.spec, env.clock.intervalMs(name));
  const memory = env.memory.get(name) ?? {};
  if (silent <= limit) {
    env.memory.delete(name);
    return undefined;
  }
  const mark = env.clock.changedAt(name);
  if (memory.answeredFor === mark) {
    // this silence was probed and the host answered: look again now and then, quietly
    if (performance.now() - (memory.probedAt ?? 0) < env.retryMs) return undefined;
    const again = await probe(host, env.connect, env.probeTimeoutMs);
    memory.probedAt = performance.now();
    if (again.answers) return undefined;
    delete memory.answeredFor;
  }
  memory.suspectedAt = performance.now();
  env.memory.set(name, memory);
  ctx.log.info("failover", { host: name, phase: "Suspect", silentMs: Math.round(silent), limitMs: limit });
  ctx.event("Warning", "HostSuspect", `host ${name}: no heartbeat for ${Math.round(silent / 100) / 10} s (${ctx.object.spec.missedHeartbeats} missed); probing it`);
  return { host: name, phase: "Suspect", startedAt: now() };
}

function handlers(ctx: Ctx, env: HaEnv): Record<Phase, Handler<HostObject>> {
  const policy = ctx.object.spec;
  const memoryOf = (name: string): HostMemory => {
    let m = env.memory.get(name);
    if (!m) env.memory.set(name, (m = { suspectedAt: performance.now() })); // a record found after a restart
    return m;
  };
  /** The lease changed after the host was suspected: its status watcher renews again. */
  const renewed = (name: string): boolean => (env.clock.changedAt(name) ?? 0) > (memoryOf(name).suspectedAt ?? Infinity);

  const tryFence = async (host: HostObject): Promise<Transition> => {
    const name = host.metadata.name;
    memoryOf(name).fencedTriedAt = performance.now();
    if (!policy.fencingRequired) return { kind: "next", phase: "Fenced", patch: { message: "not fenced: the policy's fencingRequired is false" }, event: { type: "Warning", reason: "FenceSkipped", message: "not fenced (fencingRequired: false); its VMs are restarted without a confirmed fence" } };
    const result = await fence(host, env.fenceDeps);
    if ("waiting" in result) return { kind: "stay", patch: { message: result.message } };
    env.fenced(host.spec.fencing?.method ?? "none", result.confirmed ? "confirmed" : "failed");
    if (result.confirmed) return { kind: "next", phase: "Fenced", patch: { fencedAt: now(), message: result.message }, event: { type: "Normal", reason: "Fenced", message: result.message } };
    const message = `no confirmed fence, so nothing is restarted: ${result.message}`;
    return { kind: "next", phase: "Blocked", patch: { message }, event: { type: "Warning", reason: result.reason, message } };
  };

  return {
    Suspect: async (host) => {
      const name = host.metadata.name;
      if (renewed(name)) return { kind: "drop", event: { type: "Normal", reason: "HeartbeatResumed", message: "its heartbeat resumed; nothing was done" } };
      if (policy.confirmationStrikes === 1) return { kind: "next", phase: "Fencing", event: { type: "Warning", reason: "HostFailed", message: "heartbeat lost (one strike is enough for this policy); fencing it" } };
      const result = await probe(host, env.connect, env.probeTimeoutMs);
      const memory = memoryOf(name);
      memory.probedAt = performance.now();
      if (result.answers) {
        memory.answeredFor = env.clock.changedAt(name);
        return { kind: "drop", event: { type: "Warning", reason: "HeartbeatLostHostAnswers", message: "heartbeat lost, host answers: its status watcher may be down; no fence, its VMs are left alone" } };
      }
      return { kind: "next", phase: "Fencing", event: { type: "Warning", reason: "HostFailed", message: `heartbeat lost and the host does not answer (${result.why}); fencing it` } };
    },
    Fencing: async (host) => {
      // Watchdog: the heartbeat came back while the watcher's time ran: the host is back (if the
      // watcher self-fenced meanwhile, its VMs start again where they are); nothing restarted
      if (host.spec.fencing?.method === "Watchdog" && renewed(host.metadata.name)) {
        return { kind: "drop", event: { type: "Normal", reason: "HeartbeatResumed", message: "its heartbeat resumed before the watchdog time was over; nothing was restarted" } };
      }
      return tryFence(host);
    },
    Blocked: async (host, record) => {
      const name = host.metadata.name;
      if (record.fencedAt !== undefined) return { kind: "next", phase: "Restarting" };
      if (renewed(name) && (await probe(host, env.connect, env.probeTimeoutMs)).answers) {
        return { kind: "drop", event: { type: "Normal", reason: "HostRecovered", message: "the host is back before it was fenced; nothing was restarted" } };
      }
      if (performance.now() - (memoryOf(name).fencedTriedAt ?? 0) < env.retryMs) return { kind: "stay" };
      const t = await tryFence(host);
      // still not fenced: stay Blocked (same message: no new write, the Event is aggregated)
      return t.kind === "next" && t.phase === "Blocked" ? { kind: "stay", ...(t.patch ? { patch: t.patch } : {}) } : t;
    },
    Fenced: () => Promise.resolve({ kind: "next", phase: "Restarting", event: { type: "Normal", reason: "Restarting", message: "fence confirmed; restarting its HA VMs elsewhere by priority" } }),
    Restarting: async (host, record) => restarting(ctx, env, host, record),
    Completed: async (host) => {
      if (!renewed(host.metadata.name)) return { kind: "stay" };
      // back: copies of VMs that now run elsewhere are powered off before the record goes (and
      // with it HostFailed: the host is Ready only after this)
      const stale = await powerOffStaleCopies(host, env);
      if (typeof stale === "string") return { kind: "stay", patch: { message: `the host is back; its stale copies cannot be checked yet: ${stale}` } };
      return { kind: "drop", event: { type: "Normal", reason: "HostReturned", message: `its heartbeat is back; ${stale} stale cop${stale === 1 ? "y" : "ies"} of VMs that run elsewhere powered off before it is Ready; the failover is closed` } };
    },
  };
}

/**
 * The VMs on a returned host whose VirtualMachine now names another host, powered off through the
 * host's API and confirmed by a listing; how many, or why it could not be done. Their definitions
 * stay (on shared storage their disks are the ones the VMs use now): nothing starts them again.
 */
async function powerOffStaleCopies(host: HostObject, env: HaEnv): Promise<number | string> {
  const name = host.metadata.name;
  let session: Session | undefined;
  try {
    session = await env.connect(host, AbortSignal.timeout(10_000));
    const elsewhere = (uid: string | undefined): boolean => {
      const vm = uid ? env.vmByUid(uid) : undefined;
      return vm?.status?.host !== undefined && vm.status.host !== name;
    };
    const stale = (await session.listVms()).filter((v) => v.managed && elsewhere(v.identity?.uid) && v.power !== "Stopped" && v.power !== "Crashed");
    for (const v of stale) await session.setPower(v.identity!, { state: "Stopped", mode: "Hard" });
    const left = (await session.listVms()).filter((v) => v.managed && elsewhere(v.identity?.uid) && v.power !== "Stopped" && v.power !== "Crashed");
    return left.length === 0 ? stale.length : `${left.length} stale cop${left.length === 1 ? "y" : "ies"} still running`;
  } catch (err) {
    return describeError(err);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

async function restarting(ctx: Ctx, env: HaEnv, host: HostObject, record: Failover): Promise<Transition> {
  const name = host.metadata.name;
  const policy = ctx.object.spec;
  const vms = env.vmsOf(name).filter(wants);
  const candidates = vms.map((vm) => {
    const elsewhere = vm.status?.host !== undefined && vm.status.host !== name;
    const why = elsewhere ? undefined : notRestartable(vm, host);
    return {
      key: vmKey(vm),
      priority: restartPriorityOf(vm, policy),
      asked: vm.metadata.annotations?.[haRestartAnnotation] === name,
      started: elsewhere && vm.status?.powerState === "Running",
      ready: elsewhere && (vm.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false),
      ...(why ? { notRestartable: why } : {}),
    };
  });
  const plan = planRestarts(candidates, { maxConcurrent: policy.maxConcurrentRestarts, waitFor: policy.restartOrder.waitFor });
  const gate = groupGate(record, plan.group, policy.restartOrder.delaySeconds ?? 0, Date.now());
  if (!gate.ask) plan.ask = [];
  for (const key of plan.ask) {
    const vm = vms.find((v) => vmKey(v) === key);
    if (vm) await env.askRestart(vm, name);
  }
  const counts = { ...gate.patch, vmsToRestart: plan.total, vmsRestarted: plan.started, ...(plan.notRestartable > 0 ? { vmsNotRestartable: plan.notRestartable } : {}) };
  if (plan.complete) {
    return { kind: "next", phase: "Completed", patch: { ...counts, completedAt: now() }, event: { type: "Normal", reason: "FailoverCompleted", message: `${plan.started} of ${plan.total} HA VMs run elsewhere${plan.notRestartable > 0 ? `; ${plan.notRestartable} cannot (disks on the host's own storage)` : ""}` } };
  }
  if (plan.ask.length > 0) ctx.event("Normal", "RestartRequested", `host ${name}: restart asked for ${plan.ask.length} VM(s) of priority ${plan.group ?? "?"}: ${plan.ask.join(", ")}`);
  return { kind: "stay", patch: counts };
}
