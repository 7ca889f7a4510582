import { describe, expect, it } from "vitest";
import { toDriverError } from "./errors.ts";
import { VimFault, VimTlsError, VimTransportError } from "./vim25/faults.ts";

describe("toDriverError", () => {
  const cases: Record<string, { err: unknown; kind: string; reason: string }> = {
    "a VM in the wrong power state": { err: new VimFault("InvalidPowerState", "SuspendVM_Task", "x"), kind: "invalid-transition", reason: "invalid-power-state" },
    "a VM that is gone": { err: new VimFault("ManagedObjectNotFound", "PowerOnVM_Task", "x"), kind: "not-found", reason: "vm-missing" },
    "a taken name": { err: new VimFault("DuplicateName", "CreateVM_Task", "x"), kind: "terminal", reason: "name-taken" },
    "no room on the host": { err: new VimFault("InsufficientMemoryResourcesFault", "PowerOnVM_Task", "x"), kind: "capacity", reason: "insufficient-memory" },
    "clone on a standalone host": { err: new VimFault("NotSupported", "CloneVM_Task", "x"), kind: "unsupported", reason: "not-supported" },
    "a fault we do not know is retried": { err: new VimFault("SomethingNew", "X", "x"), kind: "retryable", reason: "SomethingNew" },
    "a refused connection": { err: new VimTransportError("refused", "ECONNREFUSED"), kind: "retryable", reason: "connection-refused" },
    "an untrusted certificate": { err: new VimTlsError("untrusted"), kind: "terminal", reason: "tls-untrusted" },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const e = toDriverError(c.err, "do it");
      expect(e.kind).toBe(c.kind);
      expect(e.reason).toBe(c.reason);
    });
  }

  it("says nothing from a Login fault beyond its type (it may echo the user name)", () => {
    const e = toDriverError(new VimFault("InvalidLogin", "Login", "Cannot complete login for user admin"), "connect");
    expect(e.kind).toBe("terminal");
    expect(e.message).not.toContain("admin");
    expect(e.cause).toBeUndefined();
  });
});
