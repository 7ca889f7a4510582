// What a process does with an error nobody caught. A rejected promise nobody awaited is logged (as
// a bug, with its stack) and the process goes on: the work it belonged to is retried by its
// controller's next pass. An exception that reached the top of the event loop leaves state that
// cannot be trusted: it is logged and the process exits with code 70 (EX_SOFTWARE) for its
// supervisor (kubelet, systemd) to restart it; its Lease then lapses and a standby takes over.
import { describeError, type Logger } from "./log.ts";

export const softwareErrorExitCode = 70;

export function guardProcess(log: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const rejected = (reason: unknown): void => {
    log.error("unhandled promise rejection (a bug; the process goes on)", { error: describeError(reason), ...(reason instanceof Error && reason.stack ? { stack: reason.stack } : {}) });
  };
  const thrown = (err: Error): void => {
    log.error("uncaught exception; exiting for the supervisor to restart the process", { error: describeError(err), ...(err.stack ? { stack: err.stack } : {}), exitCode: softwareErrorExitCode });
    exit(softwareErrorExitCode);
  };
  process.on("unhandledRejection", rejected);
  process.on("uncaughtException", thrown);
  return () => {
    process.off("unhandledRejection", rejected);
    process.off("uncaughtException", thrown);
  };
}
