import { describe, expect, it } from "vitest";
import { translatePowershellError, translateWinrmError } from "./errors.ts";
import { WsmanError } from "./wsman/client.ts";

function record(message: string, category: string, errorId: string): string {
  return `${message}\r\n    + CategoryInfo          : ${category}: (:) [Start-VM], VirtualizationException\r\n    + FullyQualifiedErrorId : ${errorId},Microsoft.HyperV.PowerShell.Commands.StartVM`;
}

describe("translatePowershellError", () => {
  const cases: Record<string, { text: string; kind: string }> = {
    "a VM Hyper-V cannot find is not-found": { text: record('Get-VM : Hyper-V was unable to find a virtual machine with id "x".', "InvalidArgument", "InvalidParameter"), kind: "not-found" },
    "the wrong state is an invalid transition": { text: record("Start-VM : 'vm' failed to change state. The operation cannot be performed while the object is in its current state.", "InvalidOperation", "InvalidState"), kind: "invalid-transition" },
    "too little memory is capacity": { text: record("Start-VM : 'vm' could not initialize. Not enough memory in the system to start the virtual machine vm.", "NotSpecified", "OutOfMemory"), kind: "capacity" },
    "access denied is terminal": { text: record("Start-VM : You do not have the required permission to complete this task.", "PermissionDenied", "AccessDenied"), kind: "terminal" },
    "a missing Hyper-V module is terminal": { text: "The term 'Get-VM' is not recognized as the name of a cmdlet, function, script file, or operable program.", kind: "terminal" },
    "not implemented is unsupported": { text: record("Move-VM : not implemented", "NotImplemented", "NotImplemented"), kind: "unsupported" },
    "anything else is retried": { text: record("Start-VM : something odd", "NotSpecified", "Unexpected"), kind: "retryable" },
  };
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(translatePowershellError(c.text, "step").kind).toBe(c.kind));
});

describe("translateWinrmError", () => {
  it("refused credentials are terminal, a refused connection is retryable, an untrusted certificate is terminal", () => {
    expect(translateWinrmError(new WsmanError("auth", "HTTP 401", { status: 401 }), "x").kind).toBe("terminal");
    expect(translateWinrmError(new WsmanError("connection", "ECONNREFUSED", { cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) }), "x").kind).toBe("retryable");
    const tls = translateWinrmError(new WsmanError("connection", "self-signed", { cause: Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }) }), "x");
    expect([tls.kind, tls.reason]).toEqual(["terminal", "tls"]);
  });
});
