// libvirt's error codes (virErrorNumber in include/libvirt/virterror.h) translated into the
// contract's typed errors, so controllers decide by kind and never by libvirt's message text.
import {
  CapacityError,
  DriverError,
  InvalidTransitionError,
  NotFoundError,
  RetryableError,
  TerminalError,
  UnsupportedError,
} from "../contract/index.ts";
import { ConnectionLostError, LibvirtCallError } from "./rpc/client.ts";
import { XdrError } from "./rpc/xdr.ts";

/** The virErrorNumber values this driver tells apart. */
export const VirErr = {
  INTERNAL_ERROR: 1,
  NO_MEMORY: 2,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  NO_NETWORK: 43,
  AUTH_FAILED: 45,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_ABORTED: 78,
  NO_DOMAIN_METADATA: 80,
  MIGRATE_UNSAFE: 81,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  CPU_INCOMPATIBLE: 91,
  XML_INVALID_SCHEMA: 92,
  AUTH_UNAVAILABLE: 94,
  NO_SERVER: 95,
  DEVICE_MISSING: 99,
} as const;

type Ctor = new (message: string, options?: { reason?: string; cause?: unknown }) => DriverError;

const byCode = new Map<number, [Ctor, string]>([
  [VirErr.NO_DOMAIN, [NotFoundError, "no-domain"]],
  [VirErr.NO_NETWORK, [NotFoundError, "no-network"]],
  [VirErr.NO_STORAGE_POOL, [NotFoundError, "no-storage-pool"]],
  [VirErr.NO_STORAGE_VOL, [NotFoundError, "no-storage-vol"]],
  [VirErr.NO_DOMAIN_METADATA, [NotFoundError, "no-metadata"]],
  [VirErr.DEVICE_MISSING, [NotFoundError, "device-missing"]],
  [VirErr.OPERATION_INVALID, [InvalidTransitionError, "operation-invalid"]],
  [VirErr.NO_SUPPORT, [UnsupportedError, "no-support"]],
  [VirErr.CONFIG_UNSUPPORTED, [UnsupportedError, "config-unsupported"]],
  [VirErr.ARGUMENT_UNSUPPORTED, [UnsupportedError, "argument-unsupported"]],
  [VirErr.OPERATION_UNSUPPORTED, [UnsupportedError, "operation-unsupported"]],
  [VirErr.CPU_INCOMPATIBLE, [UnsupportedError, "cpu-incompatible"]],
  [VirErr.MIGRATE_UNSAFE, [UnsupportedError, "migrate-unsafe"]],
  [VirErr.NO_MEMORY, [CapacityError, "no-memory"]],
  [VirErr.DOM_EXIST, [TerminalError, "name-taken"]],
  [VirErr.XML_ERROR, [TerminalError, "invalid-spec"]],
  [VirErr.XML_INVALID_SCHEMA, [TerminalError, "invalid-spec"]],
  [VirErr.INVALID_ARG, [TerminalError, "invalid-argument"]],
  [VirErr.AUTH_FAILED, [TerminalError, "auth-failed"]],
  [VirErr.AUTH_UNAVAILABLE, [TerminalError, "auth-unavailable"]],
  [VirErr.ACCESS_DENIED, [TerminalError, "access-denied"]],
  [VirErr.OPERATION_DENIED, [TerminalError, "operation-denied"]],
  [VirErr.SYSTEM_ERROR, [RetryableError, "system-error"]],
  [VirErr.RPC, [RetryableError, "rpc"]],
  [VirErr.NO_CONNECT, [RetryableError, "no-connect"]],
  [VirErr.INVALID_CONN, [RetryableError, "invalid-connection"]],
  [VirErr.OPERATION_TIMEOUT, [RetryableError, "timeout"]],
  [VirErr.OPERATION_ABORTED, [RetryableError, "aborted"]],
  [VirErr.AGENT_UNRESPONSIVE, [RetryableError, "agent-unresponsive"]],
  [VirErr.RESOURCE_BUSY, [RetryableError, "busy"]],
  [VirErr.NO_SERVER, [RetryableError, "no-server"]],
  [VirErr.INTERNAL_ERROR, [RetryableError, "internal-error"]],
  [VirErr.OPERATION_FAILED, [RetryableError, "operation-failed"]],
]);

/** Whether err is the daemon saying code (e.g. VirErr.NO_DOMAIN). */
export function isVirError(err: unknown, code: number): boolean {
  return err instanceof LibvirtCallError && err.remote.code === code;
}

/**
 * Translates anything a libvirt call threw into a DriverError. Unknown libvirt codes count as
 * retryable (the contract's default: never give up by mistake); a lost connection is retryable.
 */
export function toDriverError(err: unknown, what: string): DriverError {
  if (err instanceof DriverError) return err;
  if (err instanceof LibvirtCallError) {
    const [Kind, reason] = byCode.get(err.remote.code) ?? [RetryableError, `libvirt-error-${err.remote.code}`];
    // QEMU failing to allocate guest RAM surfaces as a generic error with a telling message.
    if (Kind === RetryableError && /cannot allocate memory|out of memory/i.test(err.message)) {
      return new CapacityError(`${what}: ${err.message}`, { reason: "no-memory", cause: err });
    }
    return new Kind(`${what}: ${err.message}`, { reason, cause: err });
  }
  if (err instanceof ConnectionLostError) return new RetryableError(`${what}: ${err.message}`, { reason: "connection-lost", cause: err });
  if (err instanceof XdrError) return new RetryableError(`${what}: malformed reply (${err.message})`, { reason: "protocol", cause: err });
  return fromSystemError(err, what);
}

const connectionErrnos = new Set(["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** Certificate problems do not heal by retrying: the Host's TLS settings or Secret must change. */
const tlsCodes = new Set([
  "TLS_REFUSED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_SIGNATURE_FAILURE", "CERT_UNTRUSTED", "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
]);

/** Socket errors (daemon down, stale socket file) and aborts: all worth retrying. */
function fromSystemError(err: unknown, what: string): DriverError {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code !== undefined && tlsCodes.has(e.code)) return new TerminalError(`${what}: TLS: ${e.message}`, { reason: "tls", cause: err });
  if (e?.code !== undefined && connectionErrnos.has(e.code)) return new RetryableError(`${what}: ${e.message}`, { reason: "connection-refused", cause: err });
  if (e?.name === "AbortError" || e?.name === "TimeoutError") return new RetryableError(`${what}: ${e.message}`, { reason: "aborted", cause: err });
  return new RetryableError(`${what}: ${e?.message ?? String(err)}`, { cause: err });
}
