// TLS for an ESXi endpoint: verification is on unless the Host explicitly says insecure. ESXi ships
// a self-signed certificate, so the usual way to trust it is to pin its SHA-256 thumbprint (what
// the ESXi UI and `openssl x509 -fingerprint -sha256` show) or to give the CA that signed it.
import { Agent, type AgentOptions } from "node:https";
import type { ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { VimTlsError, VimTransportError } from "./faults.ts";

export interface TlsTrust {
  /** SHA-256 of the server certificate (DER), hex, with or without colons; case-insensitive. */
  thumbprint?: string;
  /** PEM CA bundle that signed the server certificate (the hostname is checked too). */
  ca?: string;
  /** Name to verify in the certificate (CA mode) when it differs from the endpoint's host. */
  serverName?: string;
  /** Skip all verification. Only when the Host sets it explicitly. */
  insecure?: boolean;
}

export function normalizeThumbprint(t: string): string {
  return t.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
}

/**
 * An agent that finishes the TLS handshake and checks the pin before handing the socket to
 * HTTP, so not a byte of a request (the Login carries the password) reaches an unverified peer.
 */
class PinnedAgent extends Agent {
  readonly #pin: string;

  constructor(pin: string, options: AgentOptions) {
    super(options);
    this.#pin = normalizeThumbprint(pin);
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket: TLSSocket = connect({ ...(options as ConnectionOptions), rejectUnauthorized: false });
    const fail = (err: Error) => {
      socket.destroy();
      callback?.(err, socket);
    };
    socket.once("error", (err: NodeJS.ErrnoException) => fail(new VimTransportError(`connection failed: ${err.message}`, err.code, { cause: err })));
    socket.once("secureConnect", () => {
      const seen = normalizeThumbprint(socket.getPeerCertificate().fingerprint256 ?? "");
      if (seen !== this.#pin) {
        fail(new VimTlsError(`server certificate SHA-256 thumbprint ${seen} does not match the pinned thumbprint`));
        return;
      }
      callback?.(null, socket);
    });
    return undefined;
  }
}

export function agentFor(trust: TlsTrust): Agent {
  const options: AgentOptions = { keepAlive: true, maxSockets: 8 };
  if (trust.insecure) return new Agent({ ...options, rejectUnauthorized: false });
  if (trust.thumbprint) return new PinnedAgent(trust.thumbprint, options);
  // Default and CA mode: ordinary verification (system roots, or the given CA) plus hostname check.
  return new Agent({ ...options, rejectUnauthorized: true, ...(trust.ca ? { ca: trust.ca } : {}), ...(trust.serverName ? { servername: trust.serverName } : {}) });
}

/** Reads a server's certificate thumbprint without trusting it (tests and first-contact tooling). */
export function readThumbprint(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, servername: isIp(host) ? undefined : host }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(normalizeThumbprint(fp));
    });
    socket.once("error", reject);
  });
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}
