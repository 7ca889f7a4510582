// The ESXi driver: connects to a standalone ESXi host's vim25 SOAP endpoint (no vCenter).
import { TerminalError, type Credentials, type Driver, type HostConnection, type Session, type TlsSettings } from "../contract/index.ts";
import { toDriverError } from "./errors.ts";
import { EsxiSession, type SessionOptions } from "./session.ts";
import { VimClient } from "./vim25/client.ts";
import type { TlsTrust } from "./vim25/tls.ts";

/** Kept for callers written before the contract's TlsSettings carried the thumbprint. */
export type EsxiTlsSettings = TlsSettings;

function trustFor(tls: EsxiTlsSettings | undefined): TlsTrust {
  if (tls?.insecureSkipVerify === true) return { insecure: true };
  const trust: TlsTrust = {};
  if (tls?.thumbprint) trust.thumbprint = tls.thumbprint;
  if (tls?.caPem) trust.ca = tls.caPem;
  if (tls?.serverName) trust.serverName = tls.serverName;
  return trust;
}

export class EsxiDriver implements Driver {
  readonly kind = "esxi";
  readonly #options: SessionOptions;

  constructor(options: SessionOptions = {}) {
    this.#options = options;
  }

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    let url: URL;
    try {
      url = new URL(host.endpoint);
    } catch {
      throw new TerminalError(`ESXi endpoint is not a URL: ${host.endpoint}`, { reason: "bad-endpoint" });
    }
    if (url.protocol !== "https:") throw new TerminalError(`ESXi endpoint must be https (vim25 SOAP): ${url.origin}`, { reason: "bad-endpoint" });
    if (!credentials?.username || credentials.password === undefined) {
      throw new TerminalError("ESXi needs a user name and password in the Host's credentials Secret", { reason: "credentials-missing" });
    }
    const client = new VimClient({ url: url.href, trust: trustFor(host.tls), username: credentials.username, password: credentials.password });
    try {
      await client.connect(signal);
      return await EsxiSession.open(client, this.#options, signal);
    } catch (err) {
      await client.close();
      throw toDriverError(err, `connect to ESXi ${url.host}`);
    }
  }
}
