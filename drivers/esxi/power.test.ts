import { describe, expect, it } from "vitest";
import type { PowerTarget } from "../contract/index.ts";
import type { EsxPowerState } from "./observe.ts";
import { nextPowerStep, type PowerStep, type SoftStop } from "./power.ts";

describe("nextPowerStep", () => {
  const now = 1_000_000;
  const cases: Record<string, { current: EsxPowerState; target: PowerTarget; soft?: SoftStop; want: PowerStep["kind"]; method?: string }> = {
    "powers on a stopped VM": { current: "poweredOff", target: { state: "Running" }, want: "call", method: "PowerOnVM_Task" },
    "resumes a suspended VM by powering it on": { current: "suspended", target: { state: "Running" }, want: "call", method: "PowerOnVM_Task" },
    "leaves a running VM alone": { current: "poweredOn", target: { state: "Running" }, want: "none" },
    "suspends for Paused": { current: "poweredOn", target: { state: "Paused" }, want: "call", method: "SuspendVM_Task" },
    "cannot pause a stopped VM": { current: "poweredOff", target: { state: "Paused" }, want: "invalid" },
    "asks the guest first by default (TrySoft)": { current: "poweredOn", target: { state: "Stopped" }, want: "call", method: "ShutdownGuest" },
    "waits for the guest before the deadline": { current: "poweredOn", target: { state: "Stopped" }, soft: { deadlineAt: now + 1 }, want: "none" },
    "pulls the plug after the deadline": { current: "poweredOn", target: { state: "Stopped" }, soft: { deadlineAt: now }, want: "call", method: "PowerOffVM_Task" },
    "Soft never pulls the plug": { current: "poweredOn", target: { state: "Stopped", mode: "Soft" }, soft: { deadlineAt: now - 1 }, want: "none" },
    "Hard powers off at once": { current: "poweredOn", target: { state: "Stopped", mode: "Hard" }, want: "call", method: "PowerOffVM_Task" },
    "a suspended VM stops only hard": { current: "suspended", target: { state: "Stopped", mode: "Soft" }, want: "invalid" },
    "TrySoft from suspended powers off": { current: "suspended", target: { state: "Stopped" }, want: "call", method: "PowerOffVM_Task" },
  };
  for (const [reason, c] of Object.entries(cases)) {
    it(reason, () => {
      const step = nextPowerStep(c.current, c.target, c.soft, now);
      expect(step.kind).toBe(c.want);
      if (c.method) expect(step).toMatchObject({ method: c.method });
    });
  }
});
