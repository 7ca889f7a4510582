// Typed driver errors. Each driver translates its native errors (HTTP status, libvirt error
// code, SOAP fault) into one of these, so controllers decide by `kind`, never by message text:
//   retryable           the host is unreachable or busy: back off and try again
//   capacity            the host lacks CPU, memory or storage: place elsewhere
//   terminal            the request is wrong and retrying will not help (bad spec, name taken)
//   not-found           the VM (or image, network) does not exist
//   unsupported         the driver or host cannot do this (capability missing)
//   invalid-transition  not possible from the VM's current state (Paused from Stopped)
// MigrationCancelledError is terminal with reason "migration-cancelled" (see there).

export type DriverErrorKind = "retryable" | "capacity" | "terminal" | "not-found" | "unsupported" | "invalid-transition";

export interface DriverErrorOptions {
  /** A short machine-readable reason, e.g. "name-taken", "connection-refused", "image-missing". */
  reason?: string;
  cause?: unknown;
}

export abstract class DriverError extends Error {
  abstract readonly kind: DriverErrorKind;
  readonly reason: string | undefined;

  constructor(message: string, options: DriverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
  }
}

export class RetryableError extends DriverError {
  readonly kind = "retryable";
  override readonly name = "RetryableError";
}

export class CapacityError extends DriverError {
  readonly kind = "capacity";
  override readonly name = "CapacityError";
}

export class TerminalError extends DriverError {
  readonly kind = "terminal";
  override readonly name = "TerminalError";
}

export class NotFoundError extends DriverError {
  readonly kind = "not-found";
  override readonly name = "NotFoundError";
}

export class UnsupportedError extends DriverError {
  readonly kind = "unsupported";
  override readonly name = "UnsupportedError";
}

export class InvalidTransitionError extends DriverError {
  readonly kind = "invalid-transition";
  override readonly name = "InvalidTransitionError";
}

/**
 * migrateVm ended because the migration was cancelled — by cancelMigration, or by an
 * administrator on the host (virsh domjobabort, a cancelled XAPI task, Stop-VMMigration). The VM
 * stays where it was, running as before. Terminal, not retryable: the cancel was a decision, and
 * retrying on its own would undo it; whoever wants the move asks for it again.
 */
export class MigrationCancelledError extends DriverError {
  readonly kind = "terminal";
  override readonly name = "MigrationCancelledError";

  constructor(message: string, options: DriverErrorOptions = {}) {
    super(message, { reason: "migration-cancelled", ...options });
  }
}

export function isDriverError(err: unknown): err is DriverError {
  return err instanceof DriverError;
}

/** The kind of any thrown value; an error a driver failed to translate counts as retryable, not terminal, so nothing is given up on by mistake. */
export function errorKind(err: unknown): DriverErrorKind {
  return isDriverError(err) ? err.kind : "retryable";
}
