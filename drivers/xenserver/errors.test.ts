import { describe, expect, it } from "vitest";
import { translateXapiError } from "./errors.ts";

/** An error shaped as xen-api's XapiError. */
function xapiError(code: string, params: string[]): Error {
  return Object.assign(new Error(`${code}(${params.join(", ")})`), { code, params });
}

describe("translateXapiError", () => {
  const cases: Record<string, { err: unknown; kind: string; reason: string }> = {
    "a VM in the wrong power state is an invalid transition": { err: xapiError("VM_BAD_POWER_STATE", ["OpaqueRef:1", "halted", "running"]), kind: "invalid-transition", reason: "vm-bad-power-state" },
    "too little host memory is capacity": { err: xapiError("HOST_NOT_ENOUGH_FREE_MEMORY", ["1073741824", "536870912"]), kind: "capacity", reason: "host-not-enough-free-memory" },
    "a stale handle is not-found": { err: xapiError("HANDLE_INVALID", ["VM", "OpaqueRef:2"]), kind: "not-found", reason: "handle-invalid" },
    "a session that survived no re-login is retryable": { err: xapiError("SESSION_INVALID", ["OpaqueRef:3"]), kind: "retryable", reason: "session-invalid" },
    "wrong credentials are terminal": { err: xapiError("SESSION_AUTHENTICATION_FAILED", ["root", "Authentication failure"]), kind: "terminal", reason: "session-authentication-failed" },
    "an unknown method is unsupported": { err: xapiError("MESSAGE_METHOD_UNKNOWN", ["VM.pool_migrate"]), kind: "unsupported", reason: "message-method-unknown" },
    "an unknown code is retried, not given up on": { err: xapiError("SOMETHING_NEW", []), kind: "retryable", reason: "something-new" },
    "a refused connection is retryable": { err: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), kind: "retryable", reason: "connection" },
    "a socket closed by the host is retryable": { err: Object.assign(new TypeError("fetch failed"), { cause: { code: "UND_ERR_SOCKET", message: "other side closed" } }), kind: "retryable", reason: "connection" },
  };
  it("never repeats a session reference (a bearer token) in its message", () => {
    const e = translateXapiError(xapiError("SESSION_INVALID", ["OpaqueRef:1f0e2d3c-aaaa-bbbb-cccc-000000000001"]), "list VMs");
    expect(e.message).not.toContain("OpaqueRef");
  });

  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const e = translateXapiError(c.err, "step");
      expect(e.kind).toBe(c.kind);
      expect(e.reason).toBe(c.reason);
      expect(e.message).toMatch(/^xenserver: step: /);
    });
  }
});
