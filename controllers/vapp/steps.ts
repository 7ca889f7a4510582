// One pass over a VApp:
//   failed at this generation? → roll back (delete every VM of the vApp) or keep; phase Failed
//   a member failed?           → record it (status.failure), then the same
//   power steps                → start order (sequence.ts), recorded in status.groups
//   members applied            → each member's VM created or updated with the power the start
//                                order allows now; VMs of removed members deleted
//   status                     → phase, members, ready / total, Ready
// The VApp's spec is never written; the VMs' spec is (the vApp is their desired state).
import type { ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError, statusCode } from "../../src/runtime/log.ts";
import { memberVerdict, type MemberFailure } from "./failure.ts";
import { canonical, desiredVm, memberLabel, upToDate, vmNameOf, type DesiredVm } from "./members.ts";
import { allOwned, openPass, type Ctx, type VAppEnv, type VAppPass } from "./pass.ts";
import { startInOrder, stopInOrder, type Outcome } from "./sequence.ts";
import { groupPoweredOn } from "./start-order.ts";

type Failure = MemberFailure | { reason: "NameTaken" | "Refused"; message: string };

/** Answers to a VM's apply that a retry cannot change (admission denied it — a quota —, or it is invalid): the member failed. */
const refusals = new Set([400, 403, 422]);

export async function reconcileVApp(ctx: Ctx, env: VAppEnv): Promise<ReconcileResult | void> {
  if (ctx.object.metadata.deletionTimestamp) return; // the garbage collector deletes its VMs
  const generation = ctx.object.metadata.generation ?? 0;
  const earlier = ctx.status.failure;
  if (earlier && earlier.generation !== generation) {
    ctx.event("Normal", "Retrying", `the spec changed since member ${earlier.member} failed (${earlier.reason}); deploying again`);
    delete ctx.status.failure;
    delete ctx.status.groups;
  }
  const pass = await openPass(ctx, env);
  if (ctx.status.failure) return afterFailure(pass);
  const found = findFailure(pass);
  if (found && "member" in found) return failed(pass, found);
  const outcome = ctx.object.spec.powerState === "Stopped" ? stopInOrder(pass) : startInOrder(pass);
  const { refused, made } = await applyMembers(pass);
  if (refused) return failed(pass, refused, made);
  report(pass, outcome);
  const waits = [outcome.requeueAfterMs, found?.recheckAfterMs].filter((ms): ms is number => ms !== undefined);
  return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
}

/** The first member (in spec order) that failed; else when to look again for one that may fail. */
function findFailure(pass: VAppPass): (Failure & { member: string }) | { recheckAfterMs: number } | undefined {
  const { vapp, env } = pass;
  const now = env.now();
  const waits: number[] = [];
  const records = pass.ctx.status.groups ?? [];
  for (const m of vapp.spec.members) {
    const blocking = pass.inTheWay.get(m.name);
    if (blocking?.whose === "foreign") {
      return { member: m.name, reason: "NameTaken", message: `VirtualMachine ${blocking.vm.metadata.name} already exists and is not part of this vApp` };
    }
    if (blocking) waits.push(2_000); // an earlier vApp's VM, going with it
    const vm = pass.owned.get(m.name);
    if (!vm || vm.metadata.deletionTimestamp) continue;
    const group = pass.groups.find((g) => g.members.includes(m.name));
    const record = records.find((r) => r.name === group?.name);
    const waitedFor = group && record?.poweredOnAt && !record.startedAt && m.spec.powerState !== "Stopped";
    const verdict = memberVerdict(vm, waitedFor ? { sinceMs: Date.parse(record.poweredOnAt!), waitFor: group.waitFor } : undefined, now, env.timing);
    if (verdict && "failed" in verdict) return { member: m.name, ...verdict.failed };
    if (verdict) waits.push(verdict.recheckAfterMs);
  }
  return waits.length > 0 ? { recheckAfterMs: Math.max(1, Math.min(...waits)) } : undefined;
}

/** A member failed: recorded (status.failure, an Event), then rolled back or kept. */
function failed(pass: VAppPass, failure: Failure & { member: string }, madeNow: string[] = []): Promise<ReconcileResult | void> {
  const { ctx } = pass;
  // kept short: the Ready message (1,024 characters) must still say what the policy did
  const message = failure.message.length > 600 ? `${failure.message.slice(0, 600)}…` : failure.message;
  ctx.status.failure = { ...failure, message, generation: ctx.object.metadata.generation ?? 0 };
  ctx.event("Warning", "MemberFailed", `member ${failure.member}: ${failure.reason}: ${failure.message}`);
  if (ctx.object.spec.failurePolicy !== "Keep") ctx.event("Warning", "RollingBack", `deleting every VM of the vApp because member ${failure.member} failed (failurePolicy Rollback)`);
  return afterFailure(pass, madeNow);
}

/** Rollback: every VM of the vApp deleted (RollingBack until they are gone), then Failed. Keep: Failed, the VMs left as they are. */
async function afterFailure(pass: VAppPass, madeNow: string[] = []): Promise<ReconcileResult | void> {
  const { ctx, vapp, env } = pass;
  const failure = ctx.status.failure!;
  const what = `member ${failure.member} (VirtualMachine ${vmNameOf(vapp.metadata.name, failure.member)}) failed: ${failure.reason}: ${failure.message}`;
  if (vapp.spec.failurePolicy === "Keep") {
    report(pass, { phase: "Failed", reason: "MemberFailed", message: `${what}; failurePolicy Keep: the vApp's VMs are left as they are` });
    return;
  }
  // the VMs the cache shows, and those made in this very pass (it does not show them yet)
  const namespace = vapp.metadata.namespace ?? "";
  const shown = allOwned(pass);
  const left = [...new Set([...shown.map((vm) => vm.metadata.name), ...madeNow])];
  const going = new Set(shown.filter((vm) => vm.metadata.deletionTimestamp).map((vm) => vm.metadata.name));
  await Promise.all(left.filter((name) => !going.has(name)).map((name) => env.writer.remove(namespace, name)));
  delete ctx.status.groups;
  if (left.length > 0) {
    report(pass, { phase: "RollingBack", reason: "RollingBack", message: `${what}; deleting the vApp's ${left.length} VMs (failurePolicy Rollback)` });
    return { requeueAfterMs: 2_000 };
  }
  if (ctx.status.phase === "RollingBack") ctx.event("Normal", "RolledBack", "every VM of the vApp is deleted");
  report(pass, { phase: "Failed", reason: "MemberFailed", message: `${what}; rolled back: every VM of the vApp is deleted (failurePolicy Rollback)` });
}

const withoutPower = (spec: DesiredVm["spec"] | undefined): string => canonical({ ...spec, powerState: undefined });

/**
 * Each member's VM as the spec and the start order say now (all at once); removed members' VMs
 * deleted. A VM the API server refuses (admission, validation) fails its member: returned.
 */
async function applyMembers(pass: VAppPass): Promise<{ refused?: Failure & { member: string }; made: string[] }> {
  const { ctx, vapp, env } = pass;
  const records = ctx.status.groups ?? [];
  const writes: Promise<void>[] = [];
  let refused: (Failure & { member: string }) | undefined;
  const made: string[] = [];
  const refusal = (member: string, name: string) => (err: unknown): void => {
    const code = statusCode(err);
    if (code === undefined || !refusals.has(code)) throw err;
    refused ??= { member, reason: "Refused", message: `the API server refused VirtualMachine ${name}: ${describeError(err)}` };
  };
  const created: string[] = [];
  for (const m of vapp.spec.members) {
    if (pass.inTheWay.has(m.name)) continue;
    const vm = pass.owned.get(m.name);
    if (vm?.metadata.deletionTimestamp) continue; // made again once it is gone
    const desired = desiredVm(vapp, m, groupPoweredOn(pass.groups, records, m.name) ? (m.spec.powerState ?? "Running") : "Stopped");
    if (vm && upToDate(vm, desired)) continue;
    if (!vm) created.push(desired.metadata.name);
    else if (withoutPower(vm.spec as DesiredVm["spec"]) !== withoutPower(desired.spec)) ctx.event("Normal", "UpdatedMember", `member ${m.name}: VirtualMachine ${desired.metadata.name} updated to the member's spec`);
    ctx.log.info("applying a member's VirtualMachine", { member: m.name, virtualMachine: desired.metadata.name, how: vm ? "update" : "create", powerState: desired.spec.powerState });
    writes.push(env.writer.apply(desired).then(() => void (vm || made.push(desired.metadata.name)), refusal(m.name, desired.metadata.name)));
  }
  for (const vm of pass.removed) {
    if (vm.metadata.deletionTimestamp) continue;
    ctx.event("Normal", "RemovedMember", `member ${vm.metadata.labels?.[memberLabel] ?? "?"} is no longer in the spec: deleting VirtualMachine ${vm.metadata.name}`);
    writes.push(env.writer.remove(vm.metadata.namespace ?? "", vm.metadata.name));
  }
  if (created.length > 0) ctx.event("Normal", "CreatingMembers", `creating ${created.length} VirtualMachines: ${created.join(", ")}`);
  await Promise.all(writes);
  return refused ? { refused, made } : { made };
}

/** Phase, members, ready / total and Ready from this pass's outcome. */
function report(pass: VAppPass, outcome: Outcome): void {
  const { ctx, vapp } = pass;
  const members = vapp.spec.members.map((m) => {
    const vm = pass.owned.get(m.name);
    return { name: m.name, ...(vm ? { virtualMachine: vm.metadata.name } : {}), ...(vm?.status?.phase ? { phase: vm.status.phase } : {}) };
  });
  const notReady = vapp.spec.members.filter((m) => !pass.state(m.name).ready).map((m) => m.name);
  ctx.status.phase = outcome.phase;
  ctx.status.members = members;
  ctx.status.total = members.length;
  ctx.status.ready = members.length - notReady.length;
  const settled = outcome.phase === "Running" || outcome.phase === "Stopped";
  if (settled && notReady.length === 0) {
    ctx.setCondition({ type: "Ready", status: "True", reason: outcome.reason, message: outcome.message });
  } else if (settled) {
    ctx.setCondition({ type: "Ready", status: "False", reason: "MembersNotReady", message: `${ctx.status.ready} of ${members.length} members Ready; not Ready: ${notReady.join(", ")}` });
  } else {
    ctx.setCondition({ type: "Ready", status: "False", reason: outcome.reason, message: outcome.message });
  }
}
