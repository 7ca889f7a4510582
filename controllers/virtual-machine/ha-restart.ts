// A VM whose host failed: the HAPolicy controller asks for its restart elsewhere with the
// annotation omnivisor.io/ha-restart-from=<host> (src/fleet/failovers.ts). This controller, the
// only writer of status.host, honours it only while the VM's status.host is that host AND a
// policy's record says the host is fenced — never on the annotation alone. Until then the VM
// waits without a driver call (its host does not answer), Ready=False saying why.
import type { VirtualMachineStatus } from "../../src/api/index.ts";
import type { VmObject, HostObject } from "../../src/fleet/kinds.ts";
import { failoverOf, haRestartAnnotation, notRestartable, restartAllowed, restartPriorityOf, restartTargetAllowed, type HAPolicyObject } from "../../src/fleet/failovers.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import type { ReconcileContext, ReconcileResult } from "../../src/runtime/controller.ts";

export type HaRestart =
  /** Place it again, never on `failed` nor on a host without its disks' shared storage. */
  | { kind: "restart"; failed: string; message: string }
  /** Stays where it is (Ready=False with this reason and message). */
  | { kind: "hold"; reason: "RestartDisabled" | "NotRestartable" | "RestartWaiting" | "HostFailed"; message: string };

/** `status`: the pass's (the cache may not show this controller's last write yet). */
export function haRestart(vm: VmObject, status: VmObject["status"], policies: readonly HAPolicyObject[], host: (name: string) => HostObject | undefined): HaRestart | undefined {
  const on = status?.host;
  if (!on) return undefined;
  const found = failoverOf(policies, on);
  if (!found || found.failover.phase === "Suspect") return undefined;
  if (!restartAllowed(found.policy, found.failover)) {
    return { kind: "hold", reason: "HostFailed", message: `host ${on} failed and is not confirmed off yet (${found.failover.phase}${found.failover.message ? `: ${found.failover.message}` : ""}); the VM is not started anywhere else until it is` };
  }
  if (restartPriorityOf(vm, found.policy.spec) === "Disabled") {
    return { kind: "hold", reason: "RestartDisabled", message: `host ${on} failed and is fenced; haRestartPriority Disabled: HA does not restart this VM elsewhere` };
  }
  const why = notRestartable(vm, host(on));
  if (why) return { kind: "hold", reason: "NotRestartable", message: `host ${on} failed and is fenced; not restartable: ${why}` };
  if (vm.metadata.annotations?.[haRestartAnnotation] !== on) {
    return { kind: "hold", reason: "RestartWaiting", message: `host ${on} failed and is fenced; waiting for HAPolicy ${found.policy.metadata.name} to restart its priority group` };
  }
  return { kind: "restart", failed: on, message: `host ${on} failed and is fenced (HAPolicy ${found.policy.metadata.name}); placing the VM again elsewhere` };
}

export interface FailoverEnv {
  policies: readonly HAPolicyObject[];
  host: (name: string) => HostObject | undefined;
  /** A restart by HA is no crash: the VM's crash-loop count starts over (else its start would wait). */
  forgetCrashes?: (uid: string) => void;
}

/**
 * While a VM is restarted by HA (undefined otherwise): the hosts it may not be placed on while its failed host's failover is recorded:
 * the failed host, and hosts without the shared storage its disks are on. Derived from the
 * request and the record each pass (nothing kept in memory: a restarted manager applies it too).
 */
export function restartExclusions(vm: VmObject, env: FailoverEnv): ((host: string) => boolean) | undefined {
  const from = vm.metadata.annotations?.[haRestartAnnotation];
  if (!from || !failoverOf(env.policies, from)) return undefined;
  const failed = env.host(from);
  return (name) => {
    const candidate = env.host(name);
    return name === from || !candidate || !restartTargetAllowed(vm, failed, candidate);
  };
}

/**
 * The pass of a VM whose host failed: held (Ready=False saying why, no driver call — the host does
 * not answer), or taken off the failed host to be placed again (the marker removed first, so a
 * crash can never place it back there). Undefined: the pass goes on as usual.
 */
export async function followFailover(ctx: ReconcileContext<VmObject, VirtualMachineStatus>, env: FailoverEnv): Promise<ReconcileResult | undefined> {
  const ha = haRestart(ctx.object, ctx.status, env.policies, env.host);
  if (ha?.kind === "hold") {
    if (ctx.status.conditions?.find((c) => c.type === "Ready")?.reason !== ha.reason) ctx.event("Warning", ha.reason, ha.message);
    ctx.setCondition({ type: "Ready", status: "False", reason: ha.reason, message: ha.message });
    ctx.status.phase = "Unknown";
    return { requeueAfterMs: 5_000 }; // the request or the policy's record wakes it sooner
  }
  if (ha?.kind !== "restart") return undefined;
  await ctx.ensureFinalizer(vmFinalizer, { [placedOnAnnotation]: undefined });
  env.forgetCrashes?.(ctx.object.metadata.uid ?? "");
  ctx.event("Warning", "HARestart", ha.message);
  ctx.log.info("HA restart: placing the VM again", { failedHost: ha.failed });
  for (const key of ["host", "driver", "externalId", "hostEndpoint", "addresses"] as const) delete ctx.status[key];
  ctx.status.powerState = "Unknown";
  ctx.status.phase = "Pending";
  ctx.setCondition({ type: "Created", status: "False", reason: "HARestart", message: ha.message });
  ctx.setCondition({ type: "Ready", status: "False", reason: "HARestart", message: ha.message });
  // placed in the next pass, from the object without the marker (the exclusive placement write
  // needs its new version)
  return { requeueAfterMs: 1 };
}
