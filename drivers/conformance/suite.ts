// The driver conformance suite: one set of scenarios every driver must pass against its real
// hypervisor (or, for XenServer and Hyper-V, a protocol fake). A driver's test file calls
// describeDriverConformance(target) — see ./target.ts for what the target provides.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect } from "vitest";
import type { PowerState, Session, VmIdentity, VmSpec } from "../contract/index.ts";
import { deviceTests } from "./devices.ts";
import { EventRecorder } from "./events.ts";
import { hostTests } from "./host.ts";
import { interruptedTests } from "./interrupted.ts";
import { lifecycleTests } from "./lifecycle.ts";
import { lookupTests } from "./lookups.ts";
import { migrationTests } from "./migration.ts";
import { outsideTests } from "./outside.ts";
import { parallelTests } from "./parallel.ts";
import { powerTests } from "./power.ts";
import type { ConformanceTarget } from "./target.ts";
import { twoWriterTests } from "./two-writers.ts";
import { vmUsageTests } from "./vm-usage.ts";

export type { ConformanceHooks, ConformanceTarget, DeviceValues } from "./target.ts";

/** What the scenario groups share. */
export interface ConformanceContext {
  target: ConformanceTarget;
  session(): Session;
  events: EventRecorder;
  eventTimeoutMs: number;
  /** A fresh identity named `<prefix>-<label>`. */
  identity(label: string): VmIdentity;
  spec(power?: PowerState): VmSpec;
  /** Observes the VM and expects it to exist; returns the observation. */
  observe(identity: VmIdentity): Promise<NonNullable<Awaited<ReturnType<Session["observeVm"]>>>>;
  /** Waits until the VM is observed in `power`. */
  eventuallyPower(identity: VmIdentity, power: PowerState): Promise<void>;
}

export function describeDriverConformance(target: ConformanceTarget): void {
  describe(`driver conformance: ${target.name}`, () => {
    let session: Session | undefined;
    const watching = new AbortController();
    const eventTimeoutMs = target.eventTimeoutMs ?? 20_000;

    const ctx: ConformanceContext = {
      target,
      events: new EventRecorder(),
      eventTimeoutMs,
      session() {
        if (session === undefined) throw new Error("the conformance session is not connected (see beforeAll)");
        return session;
      },
      identity(label) {
        return { uid: randomUUID(), name: `${target.prefix}-${label}`, namespace: "conformance", kubeName: label };
      },
      spec(power) {
        const spec = target.spec();
        return power === undefined ? spec : { ...spec, power: { state: power, mode: "Hard" } };
      },
      async observe(identity) {
        const vm = await ctx.session().observeVm(identity);
        expect(vm, `VM ${identity.name} should exist`).toBeDefined();
        return vm!;
      },
      async eventuallyPower(identity, power) {
        await expect.poll(async () => (await ctx.session().observeVm(identity))?.power, { timeout: eventTimeoutMs, interval: 100 }).toBe(power);
      },
    };

    beforeAll(async () => {
      await target.hooks.cleanup(target.prefix);
      session = await target.driver().connect(target.host, target.credentials, AbortSignal.timeout(30_000));
      ctx.events.start(await session.watch(watching.signal));
    });

    afterAll(async () => {
      watching.abort();
      await ctx.events.done();
      await session?.close();
      await target.hooks.cleanup(target.prefix);
    });

    hostTests(ctx);
    lifecycleTests(ctx);
    powerTests(ctx);
    outsideTests(ctx);
    lookupTests(ctx);
    parallelTests(ctx);
    interruptedTests(ctx);
    twoWriterTests(ctx);
    migrationTests(ctx);
    deviceTests(ctx);
    vmUsageTests(ctx);
  });
}
