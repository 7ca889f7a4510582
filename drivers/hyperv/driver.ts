// The Hyper-V driver: PowerShell's Hyper-V cmdlets over WinRM (WS-Management), HTTPS with Basic
// authentication. The endpoint is the host's WinRM URL, https://host:5986/wsman.
import { type Credentials, type Driver, type HostConnection, type Session, TerminalError } from "../contract/index.ts";
import { translateWinrmError } from "./errors.ts";
import { RemotePowerShell } from "./remote-powershell.ts";
import * as scripts from "./scripts.ts";
import { HyperVSession, type HyperVSessionOptions } from "./session.ts";
import { WsmanClient } from "./wsman/client.ts";

export interface HyperVDriverOptions {
  /** How often watch() polls Get-VM (Hyper-V has no change feed over WinRM). Default 2 s. */
  pollIntervalMs?: number;
  /** WS-Management OperationTimeout for a Receive with no output yet. Default 20 s. */
  operationTimeoutSeconds?: number;
  /** Folder on the host for the disks the driver creates; default: the host's VirtualHardDiskPath. */
  diskDir?: string;
  /** The virtual switch a VM network that names none connects to (e.g. "Default Switch"). */
  defaultSwitch?: string;
  /** Folder of image VHDXs (`<image>.vhdx`), the parents of image disks; default `<diskDir>\\images`. */
  imageStore?: string;
}

export class HyperVDriver implements Driver {
  readonly kind = "hyperv" as const;
  private readonly options: HyperVDriverOptions;

  constructor(options: HyperVDriverOptions = {}) {
    this.options = options;
  }

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const url = winrmUrl(host.endpoint);
    if (credentials?.username === undefined || credentials.password === undefined) {
      throw new TerminalError("hyperv: the Host's credentials need a username and a password", { reason: "credentials-missing" });
    }
    const wsman: ConstructorParameters<typeof WsmanClient>[0] = { url, username: credentials.username, password: credentials.password };
    if (host.tls !== undefined) wsman.tls = host.tls;
    if (this.options.operationTimeoutSeconds !== undefined) wsman.operationTimeoutSeconds = this.options.operationTimeoutSeconds;
    const client = new WsmanClient(wsman);
    const ps = new RemotePowerShell(client);
    let facts: { VirtualHardDiskPath: string };
    try {
      // A round trip that proves the credentials and the Hyper-V module.
      facts = JSON.parse(await ps.run("connect", scripts.hostFacts(), signal)) as { VirtualHardDiskPath: string };
    } catch (err) {
      client.close();
      throw translateWinrmError(err, `${url.host} does not answer`);
    }
    const diskDir = this.options.diskDir ?? facts.VirtualHardDiskPath;
    const options: HyperVSessionOptions = { pollIntervalMs: this.options.pollIntervalMs ?? 2_000, diskDir, imageStore: this.options.imageStore ?? `${diskDir}\\images` };
    if (this.options.defaultSwitch !== undefined) options.defaultSwitch = this.options.defaultSwitch;
    return new HyperVSession(ps, options, () => client.close());
  }
}

/** https://host[:5986]/wsman; plain http is refused: Basic authentication would send the password readable. */
function winrmUrl(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TerminalError(`hyperv: endpoint ${endpoint} is not a URL`, { reason: "bad-endpoint" });
  }
  if (url.username !== "" || url.password !== "") throw new TerminalError("hyperv: credentials belong in the Host's Secret, not in the endpoint URL", { reason: "bad-endpoint" });
  if (url.protocol !== "https:") throw new TerminalError(`hyperv: endpoint ${url.protocol}//${url.host} is not https; Basic authentication needs TLS`, { reason: "bad-endpoint" });
  if (url.port === "") url.port = "5986";
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/wsman";
  return url;
}
