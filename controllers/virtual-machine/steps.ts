// The VM controller's steps against the hypervisor, one pass at a time. Each step observes first
// and changes at most one thing; the next pass sees the result (driver calls do not block).
import { errorKind, type CloudInitData, type Session, type VmIdentity, type VmObservation } from "../../drivers/contract/index.ts";
import type { VirtualMachineStatus } from "../../src/api/index.ts";
import { TerminalError, type ReconcileContext, type ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError } from "../../src/runtime/log.ts";
import type { DatacenterObject, HostObject, VmObject } from "../../src/fleet/kinds.ts";
import { toGiB, toMiB } from "../../src/api/quantity.ts";
import type { HostSessions } from "../../src/fleet/sessions.ts";
import type { MovesByVm } from "../../src/fleet/moves.ts";
import { vmKey } from "../../src/fleet/vms-by-host.ts";
import { orphanUid } from "./adoption.ts";
import { identityOf } from "../../src/fleet/vm-identity.ts";
import { driverSpec, powerTarget } from "../../src/fleet/driver-spec.ts";
import { placedOnAnnotation, recreateAtAnnotation } from "../../src/fleet/vm-markers.ts";
import { phaseOf, statusPower } from "../../src/fleet/vm-phase.ts";
import type { CrashLoops } from "./crash-loop.ts";
import { nextPowerState, stepReason } from "./power.ts";


type Ctx = ReconcileContext<VmObject, VirtualMachineStatus>;

/** What the controller gives every pass: caches, sessions and its memory of earlier passes. */
export interface PassEnv {
  sessions: HostSessions;
  host(name: string): HostObject | undefined;
  datacenter(name: string): DatacenterObject | undefined;
  /** When a converged VM on this host is observed again. */
  pollIntervalMs(host: string): number;
  /** A key of a Secret in the VM's namespace (cloud-init user data); never logged. */
  secretValue(namespace: string, name: string, key: string): Promise<string>;
  /** uid → when a stop was last asked for: a guest shutting down is given its deadline, not asked again. */
  stopsAsked: Map<string, number>;
  /** Starts of VMs found off while their spec says Running, for the crash-loop backoff. */
  crashLoops: CrashLoops;
  /** The host refused to create the VM (capacity): placement leaves it out for a while. */
  rejected(ctx: Ctx, host: string, why: string): void;
  /** The VM's VMMigrations (src/fleet/moves.ts). */
  moves: MovesByVm;
  /** Whether a VirtualMachine with this uid exists (an orphan's uid has none: it may be adopted). */
  uidExists: (uid: string) => boolean;
}

/** One pass over a placed VM: its host, session and identity resolved once, at the start. */
export interface VmPass {
  ctx: Ctx;
  env: PassEnv;
  hostName: string;
  host: HostObject;
  session: Session;
  /** By uid, and by external id once known (set again when a create or an observation finds it). */
  identity: VmIdentity;
}

function notReady(pass: VmPass, reason: string, message: string): void {
  pass.ctx.setCondition({ type: "Ready", status: "False", reason, message });
}

async function sessionFor(ctx: Ctx, env: PassEnv, host: HostObject): Promise<Session> {
  try {
    return await env.sessions.session(host, ctx.signal);
  } catch (err) {
    ctx.setCondition({ type: "Ready", status: "False", reason: "HostUnreachable", message: `host ${host.metadata.name} cannot be reached: ${describeError(err)}` });
    throw err;
  }
}

/** Resolves the pass's host, session and identity; undefined (Ready=False HostMissing) when the host is gone. */
export async function openPass(ctx: Ctx, env: PassEnv): Promise<VmPass | undefined> {
  const hostName = ctx.status.host!;
  const host = env.host(hostName);
  if (!host) {
    ctx.setCondition({ type: "Ready", status: "False", reason: "HostMissing", message: `host ${hostName} does not exist` });
    return undefined;
  }
  const session = await sessionFor(ctx, env, host);
  return { ctx, env, hostName, host, session, identity: identityOf(ctx.object, ctx.status, orphanUid(ctx.object, host, env.uidExists)) };
}

/** The host's Datacenter as driverSpec takes it (its image catalog and networks). */
function datacenterOf(pass: VmPass): { datacenter?: DatacenterObject } {
  const datacenter = pass.env.datacenter(pass.host.spec.datacenter);
  return datacenter ? { datacenter } : {};
}

/** The VM was there (found again, or adopted): recorded in status. */
function found(pass: VmPass, observed: VmObservation, existed: boolean): VmObservation {
  const { ctx, identity, hostName, host } = pass;
  const vm = ctx.object;
  if (!existed) {
    const how = vm.spec.adopt ? "Adopted" : "Found";
    ctx.event("Normal", how, `${how === "Adopted" ? "adopted" : "found existing"} ${observed.name} (${observed.externalId}) on host ${hostName}`);
    ctx.setCondition({ type: "Created", status: "True", reason: how, message: `${observed.name} on host ${hostName}` });
  }
  ctx.status.externalId = observed.externalId;
  ctx.status.hostEndpoint = host.spec.endpoint;
  // an orphan adopted keeps its old uid where the hypervisor cannot relabel it: remember it
  if (identity.adoptableUid !== undefined && observed.identity?.uid === identity.adoptableUid) ctx.status.adoptedFromUid = identity.adoptableUid;
  pass.identity = identityOf(vm, ctx.status);
  return observed;
}

/** The VM on its host: observed, adopted, or created now. "replace": placement must be redone. */
export async function ensureOnHost(pass: VmPass): Promise<VmObservation | "replace" | "waiting" | "missing"> {
  const { ctx, session, identity, hostName, host } = pass;
  const vm = ctx.object;
  const existed = ctx.status.conditions?.some((c) => c.type === "Created" && c.status === "True") ?? false;
  const observed = await session.observeVm(identity);
  if (observed) return found(pass, observed, existed);
  if (vm.spec.adopt) {
    notReady(pass, "AdoptTargetMissing", `no VM with external id ${vm.spec.adopt.externalId} on host ${hostName}`);
    return "waiting";
  }
  if (existed && movingNow(pass)) return "waiting";
  if (existed && missingAtNewEndpoint(pass)) return "missing";
  if (existed) ctx.event("Warning", "Recreating", `${identity.name} disappeared from host ${hostName} outside the operator; creating it again`);
  const datacenter = pass.env.datacenter(host.spec.datacenter);
  const cloudInit = await cloudInitData(pass);
  try {
    const options = { ...(datacenter ? { datacenter } : {}), ...(cloudInit !== undefined ? { cloudInit } : {}) };
    // a slow create (an image copied, a clone) shows Provisioning on its host while it runs
    const created = await ctx.statusWhileWaiting(session.createVm(identity, driverSpec(vm, host.spec.driver, options)));
    ctx.event("Normal", "Created", `created ${created.name} (${created.externalId}) on host ${hostName}`);
    ctx.setCondition({ type: "Created", status: "True", reason: "Created", message: `${created.name} on host ${hostName}` });
    ctx.status.externalId = created.externalId;
    ctx.status.hostEndpoint = host.spec.endpoint;
    pass.identity = identityOf(vm, ctx.status);
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
      pass.env.rejected(ctx, hostName, message);
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

/**
 * A VM not found on its host while a VMMigration of it is not finished: it may be on its way (the
 * move's job runs, or ran before a crash), so it is not made again here. True while it waits.
 */
function movingNow(pass: VmPass): boolean {
  const moves = pass.env.moves.inFlight(vmKey(pass.ctx.object));
  if (moves.length === 0) return false;
  const names = moves.map((m) => m.metadata.name).join(", ");
  notReady(pass, "Moving", `${pass.identity.name} is not on host ${pass.hostName} while VMMigration ${names} is not finished; it is not created again here`);
  return true;
}

/**
 * A VM made at the host's earlier endpoint and not found at its new one: the endpoint may point
 * at another machine (or one that has not seen the VMs yet), so nothing is created there until
 * the user names the new endpoint in omnivisor.io/recreate-at. True while it waits (Ready=False).
 */
function missingAtNewEndpoint(pass: VmPass): boolean {
  const { ctx, host, hostName, identity } = pass;
  const was = ctx.status.hostEndpoint;
  const now = host.spec.endpoint;
  if (was === undefined || was === now || ctx.object.metadata.annotations?.[recreateAtAnnotation] === now) return false;
  const message = `${identity.name} is not at host ${hostName}'s new endpoint ${now} (it was made at ${was}); it is not created there on its own: annotate the VM ${recreateAtAnnotation}=${now} to create it there`;
  if (ctx.status.conditions?.find((c) => c.type === "Ready")?.reason !== "MissingAtNewEndpoint") ctx.event("Warning", "MissingAtNewEndpoint", message);
  notReady(pass, "MissingAtNewEndpoint", message);
  ctx.status.phase = "Unknown";
  ctx.status.powerState = "Unknown";
  return true;
}

/** cloud-init data from the VM's Secrets; a missing Secret is named in Ready, its content never. */
async function cloudInitData(pass: VmPass): Promise<CloudInitData | undefined> {
  const refs = pass.ctx.object.spec.cloudInit;
  if (!refs) return undefined;
  const userData = await secretKey(pass, "user data", refs.userDataSecretRef);
  if (!refs.networkDataSecretRef) return { userData };
  return { userData, networkConfig: await secretKey(pass, "network config", refs.networkDataSecretRef) };
}

async function secretKey(pass: VmPass, what: string, ref: { name: string; key?: string | undefined }): Promise<string> {
  const namespace = pass.ctx.object.metadata.namespace ?? "";
  try {
    return await pass.env.secretValue(namespace, ref.name, ref.key ?? "userdata");
  } catch (err) {
    const message = `cloud-init ${what} from Secret ${namespace}/${ref.name} (key ${ref.key ?? "userdata"}) cannot be read: ${describeError(err)}`;
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

/**
 * A VM that keeps stopping although its spec says Running waits before its next start
 * (crash-loop.ts): Ready=False CrashLoopBackOff says how often and for how long, with one BackOff
 * Event per wait. Undefined: start it now.
 */
function backOff(pass: VmPass, observed: VmObservation): ReconcileResult | undefined {
  const { ctx, env, identity } = pass;
  const { starts, waitMs } = env.crashLoops.hold(ctx.object.metadata.uid ?? "", Date.now());
  if (waitMs <= 0) return undefined;
  const seconds = Math.ceil(waitMs / 1000);
  const message = `${identity.name} stopped on its own ${starts} times in the last 10 minutes (now ${observed.power}); starting it again in ${seconds} s`;
  if (ctx.status.conditions?.find((c) => c.type === "Ready")?.reason !== "CrashLoopBackOff") ctx.event("Warning", "BackOff", message);
  notReady(pass, "CrashLoopBackOff", message);
  return { requeueAfterMs: waitMs };
}

/** The spec's power state — but off while the host is in maintenance with drainPolicy Shutdown. */
function desiredPower(pass: VmPass): { desired: "Running" | "Stopped" | "Paused"; held: boolean } {
  const spec = pass.ctx.object.spec.powerState ?? "Running";
  const held = pass.host.spec.maintenance === true && pass.host.spec.drainPolicy === "Shutdown" && spec !== "Stopped";
  return { desired: held ? "Stopped" : spec, held };
}

/** One power step or resize toward the spec; Ready=True once there. */
export async function converge(pass: VmPass, observed: VmObservation): Promise<ReconcileResult> {
  const { ctx } = pass;
  const vm = ctx.object;
  const { desired, held } = desiredPower(pass);
  recordObservation(ctx.status, observed);
  ctx.status.phase = phaseOf(desired, observed.power);
  const { session, identity, env } = pass;
  const uid = vm.metadata.uid ?? "";
  const step = nextPowerState(desired, observed.power);
  if (step) {
    const target = powerTarget(vm, step);
    const asked = env.stopsAsked.get(uid);
    const graceMs = ((target.deadlineSeconds ?? 0) + 5) * 1000;
    if (step === "Stopped" && asked !== undefined && Date.now() - asked < graceMs) {
      notReady(pass, "Stopping", `waiting for the guest to shut down (${target.mode ?? "TrySoft"}, ${target.deadlineSeconds ?? 0}s deadline)`);
      return { requeueAfterMs: 2_000 };
    }
    const restart = desired === "Running" && step === "Running" && (observed.power === "Stopped" || observed.power === "Crashed");
    if (restart) {
      const held = backOff(pass, observed);
      if (held) return held;
    }
    try {
      await session.setPower(identity, target);
    } catch (err) {
      // Ready says what is failing now (not what failed before): e.g. a hypervisor whose job lock
      // on the VM is held after its daemon restarted
      notReady(pass, "PowerChangeFailed", `${observed.power} → ${step} on host ${pass.hostName} failed: ${describeError(err)}`);
      throw err;
    }
    if (restart) env.crashLoops.started(uid, Date.now());
    if (step === "Stopped") {
      env.stopsAsked.set(uid, Date.now());
      env.crashLoops.forget(uid); // stopped on purpose: a later start begins a new count
    } else env.stopsAsked.delete(uid);
    const reason = stepReason(observed.power, step);
    ctx.event("Normal", reason, `${reason.toLowerCase()} ${identity.name} on host ${ctx.status.host} (was ${observed.power}, spec says ${desired})`);
    notReady(pass, reason, `${observed.power} → ${step}`);
    return { requeueAfterMs: 1_000 };
  }
  env.stopsAsked.delete(uid);
  await resize(pass, observed);
  if (held) {
    notReady(pass, "HostInMaintenance", `stopped while host ${pass.hostName} is in maintenance (drainPolicy Shutdown); it starts again when the maintenance ends`);
    return { requeueAfterMs: env.pollIntervalMs(pass.hostName) };
  }
  ctx.setCondition({ type: "Ready", status: "True", reason: desired, message: `${desired} on host ${pass.hostName}` });
  return { requeueAfterMs: env.pollIntervalMs(pass.hostName) };
}

/** Disks whose spec size is larger than the driver reports (only drivers that report disk sizes). */
export function disksToGrow(vm: VmObject, observed: VmObservation): { name: string; fromGiB: number; toGiB: number }[] {
  return (vm.spec.disks ?? []).flatMap((d) => {
    const now = observed.disks?.find((o) => o.name === d.name);
    const want = d.size !== undefined ? toGiB(d.size) : undefined;
    return now && want !== undefined && want > now.sizeGiB ? [{ name: d.name, fromGiB: now.sizeGiB, toGiB: want }] : [];
  });
}

/**
 * CPUs and memory toward the spec (now where the driver can, else RestartRequired until the next
 * stop), and disks grown to their spec size (never shrunk; a running VM's too, where the driver
 * reports disk sizes).
 */
async function resize(pass: VmPass, observed: VmObservation): Promise<void> {
  const { ctx, session, identity, host } = pass;
  const vm = ctx.object;
  const wantCpus = vm.spec.cpus;
  const wantMiB = vm.spec.memory !== undefined ? toMiB(vm.spec.memory) : undefined;
  const differs = (wantCpus !== undefined && Math.ceil(observed.cpus) !== wantCpus) || (wantMiB !== undefined && observed.memoryMiB !== wantMiB);
  const grow = disksToGrow(vm, observed);
  const clear = (): void => void (ctx.status.conditions = ctx.status.conditions?.filter((c) => c.type !== "RestartRequired"));
  if (!differs && grow.length === 0) return clear();
  const canNow = observed.power === "Stopped" || observed.power === "Crashed" || session.capabilities().liveResize;
  const what = `${Math.ceil(observed.cpus)} CPUs / ${observed.memoryMiB} MiB → ${wantCpus ?? "same"} CPUs / ${wantMiB ?? "same"} MiB`;
  const restartRequired = (why: string): void => ctx.setCondition({ type: "RestartRequired", status: "True", reason: "ResizeNeedsRestart", message: `${what}: ${why}` });
  if (differs && !canNow && grow.length === 0) return restartRequired("the driver cannot resize a running VM; it applies at the next stop");
  try {
    // one update: disks grow now; CPUs and memory now, or in the definition for the next boot
    await session.updateVm(identity, driverSpec(vm, host.spec.driver, datacenterOf(pass)));
    if (grow.length > 0) ctx.event("Normal", "DiskGrown", grow.map((g) => `disk ${g.name} ${g.fromGiB} → ${g.toGiB} GiB`).join(", "));
    if (!differs) return clear();
    if (canNow) {
      ctx.event("Normal", "Resized", what);
      clear();
    } else restartRequired("the driver cannot resize a running VM; it applies at the next stop");
  } catch (err) {
    if (errorKind(err) !== "unsupported" && errorKind(err) !== "invalid-transition") throw err;
    restartRequired(describeError(err));
  }
}

/** Deletion: the VM leaves its host, then our finalizer is released. */
/** False while a move of the VM is still being cancelled (try again). */
export async function deleteFromHost(ctx: Ctx, env: PassEnv, finalizer: string): Promise<boolean> {
  const vm = ctx.object;
  if (!vm.metadata.finalizers?.includes(finalizer)) return true;
  ctx.status.phase = "Deleting";
  // A move under way is cancelled first (the VMMigration controller sees the VM going): the VM is
  // then on one host, not on its way between two.
  const moving = env.moves.inFlight(vmKey(vm));
  if (moving.length > 0) {
    const names = moving.map((m) => m.metadata.name).join(", ");
    ctx.setCondition({ type: "Ready", status: "False", reason: "Deleting", message: `waiting for VMMigration ${names} to be cancelled before the VM is removed` });
    return false;
  }
  // a VM whose create was under way has its host only in the marker; a move that ended (failed,
  // cancelled, or not yet recorded) may have left it on its target
  const hostName = ctx.status.host ?? vm.metadata.annotations?.[placedOnAnnotation];
  const elsewhere = env.moves.of(vmKey(vm)).flatMap((m) => [m.status?.sourceHost, m.status?.targetHost]);
  const hosts = [...new Set([hostName, ...elsewhere].filter((h): h is string => h !== undefined))];
  const identity = identityOf(vm, ctx.status, orphanUid(vm, env.host(ctx.status.host ?? vm.spec.adopt?.host ?? ""), env.uidExists));
  for (const name of hosts) {
    const host = env.host(name);
    if (!host) {
      if (name === hostName) ctx.event("Warning", "HostGone", `host ${name} no longer exists; nothing left to remove`);
      continue;
    }
    const session = await sessionFor(ctx, env, host);
    if (name !== hostName && !(await session.observeVm(identity))) continue;
    try {
      await session.deleteVm(identity);
    } catch (err) {
      ctx.setCondition({ type: "Ready", status: "False", reason: "DeleteFailed", message: `removing ${identity.name} from host ${name} failed (the finalizer stays until it is gone): ${describeError(err)}` });
      throw err;
    }
    ctx.event("Normal", "Deleted", `removed ${identity.name} from host ${name}`);
  }
  env.stopsAsked.delete(vm.metadata.uid ?? "");
  env.crashLoops.forget(vm.metadata.uid ?? "");
  await ctx.removeFinalizer(finalizer);
  return true;
}
