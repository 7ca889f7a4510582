// Runs a PowerShell script on the Hyper-V host through WinRM and returns what it printed; a
// script that fails (exit code ≠ 0 or an error record) throws a typed error.
import { errorText, powershellArguments } from "./powershell.ts";
import { translatePowershellError, translateWinrmError } from "./errors.ts";
import type { WsmanClient } from "./wsman/client.ts";

export class RemotePowerShell {
  private readonly client: WsmanClient;

  constructor(client: WsmanClient) {
    this.client = client;
  }

  async run(what: string, script: string, signal?: AbortSignal): Promise<string> {
    let result;
    try {
      result = await this.client.run("powershell.exe", powershellArguments(script), signal);
    } catch (err) {
      throw translateWinrmError(err, what);
    }
    const errors = errorText(result.stderr);
    if (result.exitCode !== 0 || errors !== "") throw translatePowershellError(errors === "" ? `exit code ${result.exitCode}` : errors, what);
    return result.stdout;
  }
}
