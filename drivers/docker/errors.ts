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
  if (e.code !== undefined && connectionCodes.has(e.code)) {
    return new RetryableError(message, { reason: "connection", cause: err });
  }
  if (e.statusCode === undefined && /socket hang up|aborted|premature close/i.test(e.message ?? "")) {
    return new RetryableError(message, { reason: "connection", cause: err });
  }
  switch (e.statusCode) {
    case 404:
      return new NotFoundError(message, { reason: /no such image/i.test(message) ? "image-missing" : "not-found", cause: err });
    case 409:
      if (notRunning.test(message)) return new InvalidTransitionError(message, { reason: "state", cause: err });
      if (/already in use/i.test(message)) return new TerminalError(message, { reason: "name-taken", cause: err });
      return new RetryableError(message, { reason: "conflict", cause: err });
    case 400:
      if (outOfCapacity.test(message)) return new CapacityError(message, { reason: "limits", cause: err });
      return new TerminalError(message, { reason: "bad-request", cause: err });
    default:
      if (outOfCapacity.test(message)) return new CapacityError(message, { reason: "host", cause: err });
      if (e.statusCode === 500 && notRunning.test(message)) return new InvalidTransitionError(message, { reason: "state", cause: err });
      return new RetryableError(message, { reason: e.statusCode === undefined ? "unknown" : `http-${e.statusCode}`, cause: err });
  }
}
