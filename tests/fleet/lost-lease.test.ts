// Scenario: a manager loses its leader Lease while it is talking to hypervisors. Its sessions are
// shut down at once: the connection of every session closes (calls fail instead of finishing
// behind the new leader's back) and no pass still running can open a new one.
import { describe, expect, inject, it } from "vitest";
import { errorKind } from "../../drivers/contract/index.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { HostSessions, SessionsClosedError } from "../../src/fleet/sessions.ts";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { requireLibvirt } from "../harness/services.ts";

const admin = inject("kubeconfig");

const host: HostObject = {
  metadata: { name: "lost-lease" },
  spec: { datacenter: "dc", driver: "libvirt", endpoint: "test+unix:///default?socket=/run/libvirt/libvirt-sock", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 1, memoryOvercommit: 1 },
};

describe("a manager that lost its Lease stops every driver call", () => {
  it("given a session in use, when the sessions are shut down, then its calls fail and no new session is handed out", async () => {
    await requireLibvirt();
    const sessions = new HostSessions();
    sessions.attach(loadKubeConfig(admin));
    const signal = AbortSignal.timeout(15_000);
    const session = await sessions.session(host, signal);
    expect((await session.listVms()).length).toBeGreaterThan(0); // libvirt's test:///default has a domain "test"
    await sessions.shutdown("this manager lost its leader Lease");
    const after = await session.listVms().then(
      () => "answered",
      (err: unknown) => err,
    );
    expect(errorKind(after), "a call on the closed session").toBe("retryable");
    await expect(sessions.session(host, signal)).rejects.toBeInstanceOf(SessionsClosedError);
    await expect(sessions.refresh(host, signal)).rejects.toThrow("lost its leader Lease");
  });
});
