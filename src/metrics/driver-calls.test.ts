import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { RetryableError, type Driver, type Session } from "../../drivers/contract/index.ts";
import { DriverCallMetrics } from "./driver-calls.ts";

const session = { listVms: () => Promise.resolve([]), observeHost: () => Promise.reject(new RetryableError("connection refused")), close: () => Promise.resolve() } as unknown as Session;
const driver: Driver = { kind: "docker", connect: () => Promise.resolve(session) };

describe("driver call metrics", () => {
  it("given a measured driver, then connect and each session call are timed, and failures counted by kind", async () => {
    const registry = new Registry();
    const measured = new DriverCallMetrics(registry).driver(driver);
    const s = await measured.connect({} as never, undefined, new AbortController().signal);
    await s.listVms();
    await expect(s.observeHost()).rejects.toThrow("connection refused");
    const text = await registry.metrics();
    expect(text).toContain('omnivisor_driver_call_duration_seconds_count{driver="docker",operation="connect"} 1');
    expect(text).toContain('omnivisor_driver_call_duration_seconds_count{driver="docker",operation="listVms"} 1');
    expect(text).toContain('omnivisor_driver_call_errors_total{driver="docker",operation="observeHost",kind="retryable"} 1');
  });
});
