// XAPI's errors (xen-api's XapiError: `code` plus `params`, e.g. VM_BAD_POWER_STATE [vm;
// expected; actual]) and transport failures, translated into the contract's typed errors.
// Messages carry the code and its parameters, never the request: the login call's parameters
// are the password.
import {
  CapacityError,
  type DriverError,
  InvalidTransitionError,
  isDriverError,
  NotFoundError,
  RetryableError,
  TerminalError,
  UnsupportedError,
} from "../contract/index.ts";

interface NativeError {
  code?: unknown;
  params?: unknown;
  message?: string;
  name?: string;
  cause?: { code?: unknown; message?: string };
}

type Kind = "invalid-transition" | "capacity" | "not-found" | "retryable" | "terminal" | "unsupported";

/** XAPI error codes by the kind a controller acts on. Codes not listed count as retryable. */
const xapiKinds: Record<string, Kind> = {
  VM_BAD_POWER_STATE: "invalid-transition",
  VM_IS_TEMPLATE: "terminal",
  HOST_NOT_ENOUGH_FREE_MEMORY: "capacity",
  HOST_NOT_ENOUGH_PCPUS: "capacity",
  SR_FULL: "capacity",
  VM_REQUIRES_SR: "capacity",
  HANDLE_INVALID: "not-found",
  UUID_INVALID: "not-found",
  SESSION_INVALID: "retryable",
  OTHER_OPERATION_IN_PROGRESS: "retryable",
  EVENTS_LOST: "retryable",
  HOST_IS_SLAVE: "retryable",
  HOST_STILL_BOOTING: "retryable",
  TOO_BUSY: "retryable",
  SESSION_AUTHENTICATION_FAILED: "terminal",
  PERMISSION_DENIED: "terminal",
  RBAC_PERMISSION_DENIED: "terminal",
  MAP_DUPLICATE_KEY: "terminal",
  MESSAGE_METHOD_UNKNOWN: "unsupported",
  VM_MIGRATE_FAILED: "retryable",
};

const connectionCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

export function translateXapiError(err: unknown, what: string): DriverError {
  if (isDriverError(err)) return err;
  const e = (err ?? {}) as NativeError;
  const code = typeof e.code === "string" ? e.code : undefined;
  if (code !== undefined && /^[A-Z][A-Z0-9_]+$/.test(code) && Array.isArray(e.params)) {
    // A session error's parameter is the session reference, a bearer token: never repeat it.
    const params = code.startsWith("SESSION_") ? [] : (e.params as unknown[]).map(String);
    const message = `xenserver: ${what}: ${code}(${params.join(", ")})`;
    const kind = xapiKinds[code] ?? "retryable";
    return make(kind, message, code.toLowerCase().replace(/_/g, "-"), err);
  }
  const causeCode = typeof e.cause?.code === "string" ? e.cause.code : undefined;
  const connection = [code, causeCode].some((c) => c !== undefined && connectionCodes.has(c)) || /other side closed|socket|disconnected|fetch failed|terminated/i.test(e.message ?? "") || e.name === "TimeoutError";
  const detail = [code ?? causeCode, e.message].filter(Boolean).join(" ");
  if (connection) return new RetryableError(`xenserver: ${what}: the host does not answer (${detail})`, { reason: "connection", cause: err });
  return new RetryableError(`xenserver: ${what}: ${detail || String(err)}`, { reason: "unknown", cause: err });
}

function make(kind: Kind, message: string, reason: string, cause: unknown): DriverError {
  switch (kind) {
    case "invalid-transition":
      return new InvalidTransitionError(message, { reason, cause });
    case "capacity":
      return new CapacityError(message, { reason, cause });
    case "not-found":
      return new NotFoundError(message, { reason, cause });
    case "terminal":
      return new TerminalError(message, { reason, cause });
    case "unsupported":
      return new UnsupportedError(message, { reason, cause });
    case "retryable":
      return new RetryableError(message, { reason, cause });
  }
}
