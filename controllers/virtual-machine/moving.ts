// A VM while a VMMigration moves it. The VMMigration controller runs the hypervisor's job; this
// controller — the only writer of status.host — leaves the VM alone meanwhile (no power step, no
// resize, never a create on either host) and records it on the target once it is there and no
// longer on the source: the hand-over. Observation decides, so a crash anywhere is recovered by the
// next pass looking again.
import type { VmObservation } from "../../drivers/contract/index.ts";
import type { VmMigrationObject } from "../../src/fleet/kinds.ts";
import { placedOnAnnotation, vmFinalizer } from "../../src/fleet/vm-markers.ts";
import type { ReconcileResult } from "../../src/runtime/controller.ts";
import { describeError } from "../../src/runtime/log.ts";
import { statusPower } from "../../src/fleet/vm-phase.ts";
import type { VmPass } from "./steps.ts";

type Move = VmMigrationObject & { status: { sourceHost: string; targetHost: string } };

const moving = (pass: VmPass, move: Move, message: string): void =>
  pass.ctx.setCondition({ type: "Migrating", status: "True", reason: "Migrating", message: `${message} (VMMigration ${move.metadata.name})` });

/** The VMMigration's job runs (or is being cancelled) on the source: the VM stays there until it says otherwise. */
const jobReasons = new Set(["Starting", "Migrating", "Cancelling"]);
/** A move whose job says nothing for this long is looked at anyway (its controller may be gone). */
const quietMoveMs = 30_000;

/** The move's hypervisor job runs and its VMMigration spoke lately: nothing to look at yet. */
export function jobRunning(move: Move, now = Date.now()): boolean {
  const ready = move.status.conditions?.find((c) => c.type === "Ready");
  if (!ready || !jobReasons.has(ready.reason)) return false;
  const spoke = Math.max(Date.parse(ready.lastTransitionTime ?? "") || 0, Date.parse(move.status.progress?.observedAt ?? "") || 0);
  return now - spoke < quietMoveMs;
}

/** One pass over a VM whose move has started from its current host. */
export async function followMove(pass: VmPass, move: Move): Promise<ReconcileResult> {
  const { ctx, session, identity, env } = pass;
  const target = move.status.targetHost;
  // While the job runs, the VM is not looked at: the VMMigration's progress writes wake this pass
  // every 500 ms, and each look asks the source's hypervisor (domain XML, state) in the middle of
  // the migration. The hand-over waits for the VMMigration to say the job ended (HandingOver).
  if (jobRunning(move)) {
    moving(pass, move, `moving from host ${pass.hostName} to host ${target}`);
    return { requeueAfterMs: quietMoveMs };
  }
  const atSource = await session.observeVm(identity);
  if (atSource) {
    // its power is left as it was: a guest being moved pauses, and is shut off on the source at
    // the switch-over, while it runs on — on the target
    ctx.status.externalId = atSource.externalId;
    moving(pass, move, `moving from host ${pass.hostName} to host ${target}`);
    return { requeueAfterMs: 30_000 }; // the VMMigration's own status changes wake it sooner
  }
  const targetHost = env.host(target);
  if (!targetHost) {
    moving(pass, move, `not on host ${pass.hostName} any more, and the target host ${target} does not exist`);
    return { requeueAfterMs: 5_000 };
  }
  let there: VmObservation | undefined;
  try {
    there = await (await env.sessions.session(targetHost, ctx.signal)).observeVm(identity);
  } catch (err) {
    moving(pass, move, `not on host ${pass.hostName} any more; looking for it on host ${target} failed: ${describeError(err)}`);
    return { requeueAfterMs: 2_000 };
  }
  if (!there) {
    moving(pass, move, `on neither host ${pass.hostName} nor host ${target} right now; waiting for the move to end`);
    return { requeueAfterMs: 2_000 };
  }
  // The hand-over. The marker first: should status be lost after this, the VM is looked for on
  // the target, never made again on the source.
  await ctx.ensureFinalizer(vmFinalizer, ctx.object.spec.adopt ? {} : { [placedOnAnnotation]: target });
  const from = pass.hostName;
  ctx.status.host = target;
  ctx.status.driver = targetHost.spec.driver;
  ctx.status.hostEndpoint = targetHost.spec.endpoint;
  ctx.status.externalId = there.externalId;
  ctx.status.powerState = statusPower(there.power);
  ctx.setCondition({ type: "Migrating", status: "False", reason: "Moved", message: `moved from host ${from} to host ${target} (VMMigration ${move.metadata.name})` });
  ctx.event("Normal", "Migrated", `moved from host ${from} to host ${target} by VMMigration ${move.metadata.name}`);
  return { requeueAfterMs: 1 }; // converge on the new host
}
