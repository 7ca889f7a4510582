import { describe, expect, it } from "vitest";
import { errorKind, InvalidTransitionError, NotFoundError, RetryableError, TerminalError } from "./errors.ts";
import { hypervisorName, identityFromMetadata, identityMetadata, vmIdentity } from "./identity.ts";

describe("hypervisorName", () => {
  const cases: Record<string, { namespace: string; name: string; want: string }> = {
    "joins namespace and name with a dot": { namespace: "team-a", name: "web-1", want: "team-a.web-1" },
    "keeps names a dash would confuse apart": { namespace: "a-b", name: "c", want: "a-b.c" },
    "lower-cases and replaces what hypervisors reject": { namespace: "ns", name: "Web_1", want: "ns.web-1" },
  };
  for (const [reason, c] of Object.entries(cases)) {
    it(reason, () => expect(hypervisorName(c.namespace, c.name)).toBe(c.want));
  }

  it("cuts long names to 63 characters and keeps them unique with a hash", () => {
    const a = hypervisorName("ns", "x".repeat(80));
    const b = hypervisorName("ns", `${"x".repeat(79)}y`);
    expect(a).toHaveLength(63);
    expect(b).toHaveLength(63);
    expect(a).not.toBe(b);
  });
});

describe("identity metadata", () => {
  it("round-trips through the stored metadata", () => {
    const id = vmIdentity({ uid: "u-1", namespace: "ns", name: "vm" });
    expect(identityFromMetadata(identityMetadata(id), id.name, "ext-1")).toEqual({ ...id, externalId: "ext-1" });
  });

  it("reads no identity from a VM without a uid (unmanaged)", () => {
    expect(identityFromMetadata({ other: "x" }, "vm", "ext")).toBeUndefined();
    expect(identityFromMetadata(undefined, "vm", "ext")).toBeUndefined();
  });
});

describe("errorKind", () => {
  const cases: Record<string, { err: unknown; want: string }> = {
    retryable: { err: new RetryableError("down"), want: "retryable" },
    "not found": { err: new NotFoundError("gone"), want: "not-found" },
    terminal: { err: new TerminalError("bad", { reason: "name-taken" }), want: "terminal" },
    "invalid transition": { err: new InvalidTransitionError("stopped"), want: "invalid-transition" },
    "an untranslated error is retried, not given up on": { err: new Error("boom"), want: "retryable" },
  };
  for (const [reason, c] of Object.entries(cases)) {
    it(reason, () => expect(errorKind(c.err)).toBe(c.want));
  }

  it("keeps reason and cause", () => {
    const cause = new Error("ECONNREFUSED");
    const err = new RetryableError("dockerd unreachable", { reason: "connection-refused", cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.reason).toBe("connection-refused");
    expect(err.cause).toBe(cause);
    expect(err.name).toBe("RetryableError");
  });
});
