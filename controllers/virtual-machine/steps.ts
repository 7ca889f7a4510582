// The VM controller's steps against the hypervisor, one pass at a time. Each step observes first
// and changes at most one thing; the next pass sees the result (driver calls do not block).
import { errorKind, vmIdentity, type VmIdentity, type VmObservation } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../../src/api/index.ts";
import { TerminalError, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError } from "../../src/runtime/log.ts";
import type { DatacenterObject, HostObject, VmObject } from "../../src/fleet/kinds.ts";
import { toMiB } from "../../src/api/quantity.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import { driverSpec, powerTarget } from "./driver-spec.ts";
import { placedOnAnnotation } from "../../src/fleet/vm-markers.ts";
import { phaseOf, statusPower } from "../../src/fleet/vm-phase.ts";
import { nextPowerState, stepReason } from "./power.ts";


export interface VmPass {
  ctx: ReconcileContext<VmObject, VirtualMachineStatus>;
  sessions: HostSessions;
  host(name: string): HostObject | undefined;
  datacenter(name: string): DatacenterObject | undefined;
  pollIntervalMs: number;
  /** A key of a Secret in the VM's namespace (cloud-init user data); never logged. */
  secretValue(namespace: string, name: string, key: string): Promise<string>;
  /** uid → when a stop was last asked for: a guest shutting down is given its deadline, not asked again. */
  stopsAsked: Map<string, number>;
  /** The host refused to create the VM (capacity): placement leaves it out for a while. */
  rejected(host: string, why: string): void;
}

function identityOf(vm: VmObject, status: VirtualMachineStatus): VmIdentity {
  const ref = { uid: vm.metadata.uid ?? "", namespace: vm.metadata.namespace ?? "", name: vm.metadata.name };
  return vmIdentity(ref, status.externalId ?? vm.spec.adopt?.externalId);
}

function notReady(pass: VmPass, reason: string, message: string): void {
  pass.ctx.setCondition({ type: "Ready", status: "False", reason, message });
}

async function sessionFor(pass: VmPass, host: HostObject) {
  try {
    return await pass.sessions.session(host, pass.ctx.signal);
  } catch (err) {
    notReady(pass, "HostUnreachable", `host ${host.metadata.name} cannot be reached: ${describeError(err)}`);
    throw err;
  }
}

/** The VM on its host: observed, adopted, or created now. "replace": placement must be redone. */
export async function ensureOnHost(pass: VmPass): Promise<VmObservation | "replace" | "waiting"> {
  const { ctx } = pass;
  const vm = ctx.object;
  const hostName = ctx.status.host!;
  const host = pass.host(hostName);
  if (!host) {
    notReady(pass, "HostMissing", `host ${hostName} does not exist`);
    return "waiting";
  }
  const session = await sessionFor(pass, host);
  const identity = identityOf(vm, ctx.status);
  const existed = ctx.status.conditions?.some((c) => c.type === "Created" && c.status === "True") ?? false;
  const observed = await session.observeVm(identity);
  if (observed) {
    if (!existed) {
      const how = vm.spec.adopt ? "Adopted" : "Found";
      ctx.event("Normal", how, `${how === "Adopted" ? "adopted" : "found existing"} ${observed.name} (${observed.externalId}) on host ${hostName}`);
      ctx.setCondition({ type: "Created", status: "True", reason: how, message: `${observed.name} on host ${hostName}` });
    }
    ctx.status.externalId = observed.externalId;
    return observed;
  }
  if (vm.spec.adopt) {
    notReady(pass, "AdoptTargetMissing", `no VM with external id ${vm.spec.adopt.externalId} on host ${hostName}`);
    return "waiting";
  }
  if (existed) ctx.event("Warning", "Recreating", `${identity.name} disappeared from host ${hostName} outside the operator; creating it again`);
  const datacenter = pass.datacenter(host.spec.datacenter);
  const cloudInitUserData = await userData(pass);
  try {
    const options = { ...(datacenter ? { datacenter } : {}), ...(cloudInitUserData !== undefined ? { cloudInitUserData } : {}) };
    // a slow create (an image copied, a clone) shows Provisioning on its host while it runs
    const created = await ctx.statusWhileWaiting(session.createVm(identity, driverSpec(vm, host.spec.driver, options)));
    ctx.event("Normal", "Created", `created ${created.name} (${created.externalId}) on host ${hostName}`);
    ctx.setCondition({ type: "Created", status: "True", reason: "Created", message: `${created.name} on host ${hostName}` });
    ctx.status.externalId = created.externalId;
    return created;
  } catch (err) {
    const message = `creating on host ${hostName} failed: ${describeError(err)}`;
    if (errorKind(err) === "capacity") {
      // What the host made before refusing (a VM defined but not started) goes first: placed
      // elsewhere, it would be a second copy. Should that fail, the VM stays here and is retried.
      try {
        await session.deleteVm(identity);
      } catch (cleanup) {
        const stuck = `${message}; removing what it made there failed: ${describeError(cleanup)}`;
        notReady(pass, "HostRejected", stuck);
        throw new Error(stuck);
      }
      ctx.event("Warning", "HostRejected", message);
      ctx.setCondition({ type: "Scheduled", status: "False", reason: "HostRejected", message });
      pass.rejected(hostName, message);
      delete ctx.status.host;
      delete ctx.status.driver;
      delete ctx.status.externalId;
      return "replace";
    }
    notReady(pass, "ProvisioningFailed", message);
    ctx.status.phase = "Failed";
    if (errorKind(err) === "terminal") throw new TerminalError(message);
    throw new Error(message);
  }
}

/** cloud-init user data from the VM's Secret; a missing Secret is named in Ready, its content never. */
async function userData(pass: VmPass): Promise<string | undefined> {
  const ref = pass.ctx.object.spec.cloudInit?.userDataSecretRef;
  if (!ref) return undefined;
  const namespace = pass.ctx.object.metadata.namespace ?? "";
  try {
    return await pass.secretValue(namespace, ref.name, ref.key ?? "userdata");
  } catch (err) {
    const message = `cloud-init user data from Secret ${namespace}/${ref.name} (key ${ref.key ?? "userdata"}) cannot be read: ${describeError(err)}`;
    notReady(pass, "CloudInitUnavailable", message);
    throw new Error(message);
  }
}

function recordObservation(status: VirtualMachineStatus, observed: VmObservation): void {
  status.externalId = observed.externalId;
  status.powerState = statusPower(observed.power);
  if (observed.addresses.length > 0) {
    status.addresses = observed.addresses.map((address) => ({ address, family: address.includes(":") ? ("IPv6" as const) : ("IPv4" as const) }));
  } else delete status.addresses;
}

/** One power step or resize toward the spec; Ready=True once there. */
export async function converge(pass: VmPass, observed: VmObservation): Promise<ReconcileResult> {
  const { ctx } = pass;
  const vm = ctx.object;
  const desired = vm.spec.powerState ?? "Running";
  recordObservation(ctx.status, observed);
  ctx.status.phase = phaseOf(desired, observed.power);
  const session = await sessionFor(pass, pass.host(ctx.status.host!)!);
  const identity = identityOf(vm, ctx.status);
  const uid = vm.metadata.uid ?? "";
  const step = nextPowerState(desired, observed.power);
  if (step) {
    const target = powerTarget(vm, step);
    const asked = pass.stopsAsked.get(uid);
    const graceMs = ((target.deadlineSeconds ?? 0) + 5) * 1000;
    if (step === "Stopped" && asked !== undefined && Date.now() - asked < graceMs) {
      notReady(pass, "Stopping", `waiting for the guest to shut down (${target.mode ?? "TrySoft"}, ${target.deadlineSeconds ?? 0}s deadline)`);
      return { requeueAfterMs: 2_000 };
    }
    await session.setPower(identity, target);
    if (step === "Stopped") pass.stopsAsked.set(uid, Date.now());
    else pass.stopsAsked.delete(uid);
    const reason = stepReason(observed.power, step);
    ctx.event("Normal", reason, `${reason.toLowerCase()} ${identity.name} on host ${ctx.status.host} (was ${observed.power}, spec says ${desired})`);
    notReady(pass, reason, `${observed.power} → ${step}`);
    return { requeueAfterMs: 1_000 };
  }
  pass.stopsAsked.delete(uid);
  await resize(pass, observed, session, identity);
  ctx.setCondition({ type: "Ready", status: "True", reason: desired, message: `${desired} on host ${ctx.status.host}` });
  return { requeueAfterMs: pass.pollIntervalMs };
}

async function resize(pass: VmPass, observed: VmObservation, session: Awaited<ReturnType<typeof sessionFor>>, identity: VmIdentity): Promise<void> {
  const { ctx } = pass;
  const vm = ctx.object;
  const wantCpus = vm.spec.cpus;
  const wantMiB = vm.spec.memory !== undefined ? toMiB(vm.spec.memory) : undefined;
  const differs = (wantCpus !== undefined && Math.ceil(observed.cpus) !== wantCpus) || (wantMiB !== undefined && observed.memoryMiB !== wantMiB);
  const clear = (): void => void (ctx.status.conditions = ctx.status.conditions?.filter((c) => c.type !== "RestartRequired"));
  if (!differs) return clear();
  const canNow = observed.power === "Stopped" || observed.power === "Crashed" || session.capabilities().liveResize;
  const what = `${Math.ceil(observed.cpus)} CPUs / ${observed.memoryMiB} MiB → ${wantCpus ?? "same"} CPUs / ${wantMiB ?? "same"} MiB`;
  if (!canNow) {
    ctx.setCondition({ type: "RestartRequired", status: "True", reason: "ResizeNeedsRestart", message: `${what}: the driver cannot resize a running VM; it applies at the next stop` });
    return;
  }
  const host = pass.host(ctx.status.host!)!;
  try {
    await session.updateVm(identity, driverSpec(vm, host.spec.driver));
    ctx.event("Normal", "Resized", what);
    clear();
  } catch (err) {
    if (errorKind(err) !== "unsupported" && errorKind(err) !== "invalid-transition") throw err;
    ctx.setCondition({ type: "RestartRequired", status: "True", reason: "ResizeNeedsRestart", message: `${what}: ${describeError(err)}` });
  }
}

/** Deletion: the VM leaves its host, then our finalizer is released. */
export async function deleteFromHost(pass: VmPass, finalizer: string): Promise<void> {
  const { ctx } = pass;
  const vm = ctx.object;
  if (!vm.metadata.finalizers?.includes(finalizer)) return;
  ctx.status.phase = "Deleting";
  // a VM whose create was under way has its host only in the marker
  const hostName = ctx.status.host ?? vm.metadata.annotations?.[placedOnAnnotation];
  const host = hostName ? pass.host(hostName) : undefined;
  if (hostName && host) {
    const session = await sessionFor(pass, host);
    const identity = identityOf(vm, ctx.status);
    await session.deleteVm(identity);
    ctx.event("Normal", "Deleted", `removed ${identity.name} from host ${hostName}`);
  } else if (hostName) {
    ctx.event("Warning", "HostGone", `host ${hostName} no longer exists; nothing left to remove`);
  }
  pass.stopsAsked.delete(vm.metadata.uid ?? "");
  await ctx.removeFinalizer(finalizer);
}
