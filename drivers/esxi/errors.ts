// vim25 faults and transport failures → the contract's typed errors, in one table. Messages are
// built from the fault type and the server's text; requests (and so credentials) are never quoted.
import {
  CapacityError,
  InvalidTransitionError,
  isDriverError,
  NotFoundError,
  RetryableError,
  TerminalError,
  UnsupportedError,
  type DriverError,
} from "../contract/index.ts";
import { VimFault, VimTlsError, VimTransportError } from "./vim25/faults.ts";

type Make = (message: string, reason: string, cause: unknown) => DriverError;

const retryable: Make = (m, reason, cause) => new RetryableError(m, { reason, cause });
const terminal: Make = (m, reason, cause) => new TerminalError(m, { reason, cause });
const capacity: Make = (m, reason, cause) => new CapacityError(m, { reason, cause });
const notFound: Make = (m, reason, cause) => new NotFoundError(m, { reason, cause });
const unsupported: Make = (m, reason, cause) => new UnsupportedError(m, { reason, cause });
const invalidTransition: Make = (m, reason, cause) => new InvalidTransitionError(m, { reason, cause });

/** vim25 fault type → contract error and reason. Unlisted faults are retried (contract default). */
const byFault: Record<string, [Make, string]> = {
  InvalidLogin: [terminal, "invalid-login"],
  NoPermission: [terminal, "no-permission"],
  NotAuthenticated: [retryable, "not-authenticated"],
  ManagedObjectNotFound: [notFound, "vm-missing"],
  InvalidPowerState: [invalidTransition, "invalid-power-state"],
  InvalidState: [invalidTransition, "invalid-state"],
  DuplicateName: [terminal, "name-taken"],
  AlreadyExists: [terminal, "name-taken"],
  FileAlreadyExists: [terminal, "file-exists"],
  InvalidArgument: [terminal, "invalid-argument"],
  InvalidRequest: [terminal, "invalid-request"],
  InvalidDeviceSpec: [terminal, "invalid-device"],
  InvalidName: [terminal, "invalid-name"],
  NotSupported: [unsupported, "not-supported"],
  NotImplemented: [unsupported, "not-implemented"],
  MethodNotFound: [unsupported, "not-supported"],
  InsufficientResourcesFault: [capacity, "insufficient-resources"],
  InsufficientMemoryResourcesFault: [capacity, "insufficient-memory"],
  InsufficientCpuResourcesFault: [capacity, "insufficient-cpu"],
  InsufficientHostCapacityFault: [capacity, "insufficient-host"],
  NoDiskSpace: [capacity, "no-disk-space"],
  OutOfBounds: [capacity, "out-of-bounds"],
  TaskInProgress: [retryable, "task-in-progress"],
  ToolsUnavailable: [retryable, "guest-tools-unavailable"],
  HostCommunication: [retryable, "host-communication"],
  HostNotConnected: [retryable, "host-not-connected"],
  ConcurrentAccess: [retryable, "concurrent-access"],
  RequestCanceled: [retryable, "canceled"],
};

export function toDriverError(err: unknown, what: string): DriverError {
  if (isDriverError(err)) return err;
  if (err instanceof VimFault) {
    const [make, reason] = byFault[err.fault] ?? [retryable, err.fault];
    // Login faults can echo the user name; say only what went wrong.
    const detail = err.method === "Login" ? `${err.fault}: the host refused the credentials` : err.message;
    return make(`${what}: ${detail}`, reason, err.method === "Login" ? undefined : err);
  }
  if (err instanceof VimTlsError) return terminal(`${what}: ${err.message}`, "tls-untrusted", err);
  if (err instanceof VimTransportError) {
    return retryable(`${what}: ${err.message}`, err.code === "ECONNREFUSED" ? "connection-refused" : "connection-failed", err);
  }
  if (err instanceof Error && err.name === "AbortError") return retryable(`${what}: aborted`, "aborted", err);
  const message = err instanceof Error ? err.message : String(err);
  return retryable(`${what}: ${message}`, "unexpected", err);
}
