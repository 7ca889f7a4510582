// WinRM and PowerShell failures translated into the contract's typed errors. A cmdlet's error
// is read from its CategoryInfo / FullyQualifiedErrorId and message (Hyper-V's own words), so a
// controller decides by kind, never by text. Messages never include the request: its
// Authorization header is the password.
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
import { WsmanError } from "./wsman/client.ts";

const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ALTNAME/;

export function translateWinrmError(err: unknown, what: string): DriverError {
  if (isDriverError(err)) return err;
  if (err instanceof WsmanError) {
    const message = `hyperv: ${what}: ${err.message}`;
    switch (err.failure) {
      case "auth":
        return new TerminalError(message, { reason: "auth-failed", cause: err });
      case "connection": {
        const code = (err.cause as { code?: string } | undefined)?.code ?? "";
        if (tlsCodes.test(code)) return new TerminalError(`${message} (the host's certificate is not trusted: set the Host's CA or server name)`, { reason: "tls", cause: err });
        return new RetryableError(message, { reason: "connection", cause: err });
      }
      default:
        return new RetryableError(message, { reason: err.failure, cause: err });
    }
  }
  return new RetryableError(`hyperv: ${what}: ${String(err)}`, { reason: "unknown", cause: err });
}

/** A PowerShell error record's text (see powershell.ts errorText) as a typed error. */
export function translatePowershellError(text: string, what: string): DriverError {
  const message = `hyperv: ${what}: ${firstLine(text)}`;
  const category = /CategoryInfo\s*:\s*(\w+)/.exec(text)?.[1] ?? "";
  const errorId = /FullyQualifiedErrorId\s*:\s*([\w.-]+)/.exec(text)?.[1] ?? "";
  if (/is not recognized as the name of a cmdlet/i.test(text)) return new TerminalError(`${message} (is the Hyper-V PowerShell module installed?)`, { reason: "hyperv-module-missing" });
  if (category === "NotImplemented") return new UnsupportedError(message, { reason: "not-implemented" });
  if (category === "ObjectNotFound" || /unable to find a virtual machine|was not found/i.test(text)) return new NotFoundError(message, { reason: "not-found" });
  if (errorId === "InvalidState" || category === "InvalidOperation" || /current state|cannot be performed while/i.test(text)) {
    return new InvalidTransitionError(message, { reason: "state" });
  }
  if (category === "ResourceUnavailable" || /not enough memory|insufficient (?:memory|system resources)|not enough space/i.test(text)) {
    return new CapacityError(message, { reason: "host" });
  }
  if (category === "PermissionDenied" || /access (?:is )?denied|not authorized/i.test(text)) return new TerminalError(message, { reason: "permission-denied" });
  if (category === "InvalidArgument") return new TerminalError(message, { reason: "invalid-argument" });
  return new RetryableError(message, { reason: errorId === "" ? "powershell" : errorId });
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? "PowerShell reported an error";
}
