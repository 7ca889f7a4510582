// Powering the vApp on in start order and off in reverse, one pass at a time: each step is
// recorded in status.groups (and an Event), the members' VMs are then applied with the power the
// records allow (steps.ts). A delay is a requeue, never a sleep.
import type { VAppStatus } from "../../src/api/index.ts";
import { provisioned } from "./failure.ts";
import type { VAppPass } from "./pass.ts";
import { nextStart, nextStop, type GroupRecord } from "./start-order.ts";

type Phase = NonNullable<VAppStatus["phase"]>;

/** Where the vApp is after this pass's power steps, and when to look again. */
export interface Outcome {
  phase: Phase;
  reason: string;
  message: string;
  requeueAfterMs?: number;
}

/** A safety net: the members' VM changes wake the vApp, this only covers a missed one. */
const lookAgainMs = 10_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const list = (names: readonly string[]): string => (names.length > 0 ? names.join(", ") : "no members");

/** status.groups without the groups no longer in the spec. */
function records(pass: VAppPass): GroupRecord[] {
  return (pass.ctx.status.groups ?? []).filter((r) => pass.groups.some((g) => g.name === r.name));
}

function keep(pass: VAppPass, next: GroupRecord[]): void {
  // in start order, whatever order they were recorded in
  const ordered = pass.groups.flatMap((g) => next.filter((r) => r.name === g.name));
  if (ordered.length > 0) pass.ctx.status.groups = ordered;
  else delete pass.ctx.status.groups;
}

/** Every member on its hypervisor, then the groups powered on in order with their delays. */
export function startInOrder(pass: VAppPass): Outcome {
  const { ctx, vapp } = pass;
  const now = pass.env.now();
  const recs = records(pass);
  const members = vapp.spec.members.map((m) => m.name);
  if (!recs.some((r) => r.poweredOnAt)) {
    const waiting = members.filter((m) => !provisioned(pass.owned.get(m)));
    if (waiting.length > 0) {
      keep(pass, recs);
      return { phase: "Provisioning", reason: "Provisioning", message: `${members.length - waiting.length} of ${members.length} members on their hypervisors, held stopped; waiting for ${list(waiting)}`, requeueAfterMs: lookAgainMs };
    }
    ctx.event("Normal", "Provisioned", `all ${members.length} members are on their hypervisors; powering on in start order`);
  }
  try {
    for (let i = 0; i <= pass.groups.length; i++) {
      const step = nextStart(pass.groups, recs, pass.state, now);
      switch (step.kind) {
        case "power-on": {
          const at = recs.findIndex((r) => r.name === step.group.name);
          if (at >= 0) recs.splice(at, 1);
          recs.push({ name: step.group.name, poweredOnAt: iso(now) });
          ctx.event("Normal", "PoweringOn", `group ${step.group.name}: powering on ${list(step.group.members)}`);
          continue;
        }
        case "started": {
          const record = recs.find((r) => r.name === step.group.name)!;
          record.startedAt = iso(now);
          ctx.event("Normal", "GroupStarted", `group ${step.group.name}: ${list(step.group.members)} ${step.group.waitFor === "Ready" ? "Ready" : "started"}`);
          continue;
        }
        case "wait-delay":
          return {
            phase: "Starting",
            reason: "WaitingForDelay",
            message: `group ${step.group.name} powers on ${step.group.delaySeconds} s after group ${step.after} started, at ${iso(step.untilMs)}`,
            requeueAfterMs: Math.max(1, step.untilMs - now),
          };
        case "wait-members":
          return { phase: "Starting", reason: "Starting", message: `group ${step.group.name}: waiting for ${list(step.pending)} to be ${step.group.waitFor === "Ready" ? "Ready" : "started"}`, requeueAfterMs: lookAgainMs };
        case "running":
          if (ctx.status.phase !== "Running") ctx.event("Normal", "Running", `every group is started: ${list(pass.groups.map((g) => g.name))}`);
          return { phase: "Running", reason: "Running", message: "every group is started" };
      }
    }
    return { phase: "Starting", reason: "Starting", message: "powering on", requeueAfterMs: lookAgainMs };
  } finally {
    keep(pass, recs);
  }
}

/** The groups powered off in reverse start order, each once the one after it is off. */
export function stopInOrder(pass: VAppPass): Outcome {
  const { ctx, vapp } = pass;
  let recs = records(pass);
  try {
    for (let i = 0; i <= pass.groups.length; i++) {
      const step = nextStop(pass.groups, recs, pass.state);
      switch (step.kind) {
        case "power-off":
          recs = recs.map((r) => (r.name === step.group.name ? { name: r.name } : r));
          ctx.event("Normal", "PoweringOff", `group ${step.group.name}: powering off ${list(step.group.members)}`);
          continue;
        case "stopped":
          recs = recs.filter((r) => r.name !== step.group.name);
          ctx.event("Normal", "GroupStopped", `group ${step.group.name}: ${list(step.group.members)} stopped`);
          continue;
        case "wait-stopped":
          return { phase: "Stopping", reason: "Stopping", message: `group ${step.group.name}: waiting for ${list(step.pending)} to stop`, requeueAfterMs: lookAgainMs };
        case "all-stopped": {
          const members = vapp.spec.members.map((m) => m.name);
          const waiting = members.filter((m) => !provisioned(pass.owned.get(m)));
          if (waiting.length > 0) return { phase: "Provisioning", reason: "Provisioning", message: `${members.length - waiting.length} of ${members.length} members on their hypervisors (spec.powerState Stopped); waiting for ${list(waiting)}`, requeueAfterMs: lookAgainMs };
          const running = members.filter((m) => !pass.state(m).stopped);
          if (running.length > 0) return { phase: "Stopping", reason: "Stopping", message: `waiting for ${list(running)} to stop`, requeueAfterMs: lookAgainMs };
          if (ctx.status.phase === "Stopping") ctx.event("Normal", "Stopped", "every member is stopped");
          return { phase: "Stopped", reason: "Stopped", message: `all ${members.length} members stopped` };
        }
      }
    }
    return { phase: "Stopping", reason: "Stopping", message: "powering off", requeueAfterMs: lookAgainMs };
  } finally {
    keep(pass, recs);
  }
}
