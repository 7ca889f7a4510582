import { describe, expect, it } from "vitest";
import type { VmObject } from "../../src/fleet/kinds.ts";
import { memberVerdict, type FailureTiming } from "./failure.ts";

const timing: FailureTiming = { graceMs: 30_000, provisionTimeoutMs: 600_000, startTimeoutMs: 300_000 };
const t0 = Date.parse("2026-12-06T10:00:00.000Z");
const at = (s: number): string => new Date(t0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
const vm = (status: object): VmObject => ({ metadata: { name: "shop-db", namespace: "t", creationTimestamp: at(0) }, spec: {}, status }) as unknown as VmObject;
const cond = (type: string, status: string, reason: string, since: number, message = "") => ({ type, status, reason, message, lastTransitionTime: at(since) });
const created = cond("Created", "True", "Created", 2);

describe("whether a member failed", () => {
  const cases: { name: string; vm: VmObject; startingSince?: number; waitFor?: "Started" | "Ready"; now: number; want: unknown }[] = [
    { name: "placed and being created: nothing wrong yet", vm: vm({ phase: "Provisioning", conditions: [cond("Scheduled", "True", "Placed", 1)] }), now: 5, want: { recheckAfterMs: 595_000 } },
    {
      name: "no host fits for 10 s: not yet (a Host may still become Ready)",
      vm: vm({ phase: "Pending", conditions: [cond("Scheduled", "False", "NoHostFits", 0, "none of 2 hosts fits: no libvirt source for image x")] }),
      now: 10,
      want: { recheckAfterMs: 20_000 },
    },
    {
      name: "no host fits for 30 s: Unschedulable, with the placement's words",
      vm: vm({ phase: "Pending", conditions: [cond("Scheduled", "False", "NoHostFits", 0, "none of 2 hosts fits: no libvirt source for image x")] }),
      now: 31,
      want: { failed: { reason: "Unschedulable", message: expect.stringContaining("no libvirt source for image x") as unknown } },
    },
    {
      name: "the create failed for 30 s: ProvisioningFailed",
      vm: vm({ phase: "Failed", conditions: [cond("Scheduled", "True", "Placed", 0), cond("Ready", "False", "ProvisioningFailed", 1, "creating on host h failed: no such image")] }),
      now: 40,
      want: { failed: { reason: "ProvisioningFailed", message: expect.stringContaining("no such image") as unknown } },
    },
    { name: "not on a hypervisor after 10 minutes: ProvisioningTimedOut", vm: vm({ phase: "Provisioning" }), now: 601, want: { failed: { reason: "ProvisioningTimedOut" } } },
    { name: "on its hypervisor, stopped, its group not asked: nothing wrong", vm: vm({ phase: "Stopped", powerState: "Stopped", conditions: [created] }), now: 5000, want: undefined },
    { name: "asked to start 60 s ago, still stopped: not yet", vm: vm({ phase: "Starting", powerState: "Stopped", conditions: [created] }), startingSince: 100, now: 160, want: { recheckAfterMs: 240_000 } },
    { name: "asked to start 5 minutes ago, still stopped: StartTimedOut", vm: vm({ phase: "Starting", powerState: "Stopped", conditions: [created] }), startingSince: 100, now: 401, want: { failed: { reason: "StartTimedOut" } } },
    {
      name: "running but not Ready 5 minutes after its power-on, in a group that waits for Ready: StartTimedOut",
      vm: vm({ phase: "Running", powerState: "Running", conditions: [created, cond("Ready", "False", "AgentNotConnected", 101, "no guest agent")] }),
      startingSince: 100,
      waitFor: "Ready",
      now: 401,
      want: { failed: { reason: "StartTimedOut", message: expect.stringContaining("not Ready 300 s after") as unknown } },
    },
    { name: "running, in a group that waits for Started: nothing wrong", vm: vm({ phase: "Running", powerState: "Running", conditions: [created] }), startingSince: 100, now: 401, want: undefined },
    {
      name: "crash-looping while its group starts: StartFailed",
      vm: vm({ phase: "Stopped", powerState: "Stopped", conditions: [created, cond("Ready", "False", "CrashLoopBackOff", 110, "stopped on its own 3 times")] }),
      startingSince: 100,
      now: 141,
      want: { failed: { reason: "StartFailed" } },
    },
    {
      name: "crash-looping long after its group started: not a deployment failure",
      vm: vm({ phase: "Stopped", powerState: "Stopped", conditions: [created, cond("Ready", "False", "CrashLoopBackOff", 110, "stopped on its own 3 times")] }),
      now: 5000,
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = memberVerdict(c.vm, c.startingSince !== undefined ? { sinceMs: t0 + c.startingSince * 1000, waitFor: c.waitFor ?? "Started" } : undefined, t0 + c.now * 1000, timing);
      if (c.want === undefined) expect(got).toBeUndefined();
      else expect(got).toMatchObject(c.want as object);
    });
  }
});
