// Docker's errors (dockerode / docker-modem: an Error with statusCode and json.message, or a
// socket error with a code) translated into the contract's typed errors.
import {
  CapacityError,
  type DriverError,
  InvalidTransitionError,
  isDriverError,
  NotFoundError,
  RetryableError,
  TerminalError,
} from "../contract/index.ts";

interface NativeError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

/** Socket-level failures: dockerd is down, restarting, or the connection was cut. */
const connectionCodes = new Set(["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]);

/** Certificate problems (ours refused, theirs unverifiable): retrying will not fix them. */
const tlsCodes = /^(ERR_SSL_|ERR_TLS_|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_)/;

const notRunning = /is not running|is not paused|is already paused|is paused|is restarting|cannot (?:pause|unpause)/i;
const outOfCapacity = /range of cpus|minimum memory|no space left|cannot allocate memory|insufficient/i;

/** The daemon's own message, without docker-modem's "(HTTP code 409) unexpected - " prefix. */
export function dockerMessage(err: unknown): string {
  const e = err as NativeError;
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

export function translateDockerError(err: unknown, what: string): DriverError {
  if (isDriverError(err)) return err;
  const e = (err ?? {}) as NativeError;
  const message = `${what}: ${dockerMessage(err)}`;
  return e.statusCode === undefined ? socketError(e, message, err) : httpError(e.statusCode, message, err);
}

/** No answer from dockerd: the connection failed, or TLS refused it. */
function socketError(e: NativeError, message: string, cause: unknown): DriverError {
  if (e.code !== undefined && tlsCodes.test(e.code)) return new TerminalError(message, { reason: "tls", cause });
  if ((e.code !== undefined && connectionCodes.has(e.code)) || /socket hang up|aborted|premature close/i.test(e.message ?? "")) {
    return new RetryableError(message, { reason: "connection", cause });
  }
  return new RetryableError(message, { reason: "unknown", cause });
}

/** dockerd answered with an error status. */
function httpError(status: number, message: string, cause: unknown): DriverError {
  switch (status) {
    case 404:
      return new NotFoundError(message, { reason: /no such image/i.test(message) ? "image-missing" : "not-found", cause });
    case 409:
      if (notRunning.test(message)) return new InvalidTransitionError(message, { reason: "state", cause });
      if (/already in use/i.test(message)) return new TerminalError(message, { reason: "name-taken", cause });
      return new RetryableError(message, { reason: "conflict", cause });
    case 400:
      if (outOfCapacity.test(message)) return new CapacityError(message, { reason: "limits", cause });
      return new TerminalError(message, { reason: "bad-request", cause });
    default:
      if (outOfCapacity.test(message)) return new CapacityError(message, { reason: "host", cause });
      if (status === 500 && notRunning.test(message)) return new InvalidTransitionError(message, { reason: "state", cause });
      return new RetryableError(message, { reason: `http-${status}`, cause });
  }
}
