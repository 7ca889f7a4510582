// Opens the byte stream to a libvirt daemon: a unix socket, plain TCP, or TLS (client certificate
// authentication, as libvirtd's listen_tls expects).
import { createConnection, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Transport } from "./uri.ts";

export interface TlsFiles {
  /** PEM: the CA that signed the daemon's certificate. */
  ca?: string;
  /** PEM: client certificate and key, when the daemon verifies clients. */
  cert?: string;
  key?: string;
  /** Checked against the daemon's certificate; defaults to the URI's host. */
  serverName?: string;
}

/**
 * The daemon refused us after the TLS handshake: libvirtd checks the client certificate (and
 * its allowed-DN list) and answers a single status byte, 1 for accepted, before any RPC.
 */
export class TlsRefusedError extends Error {
  readonly code = "TLS_REFUSED";
}

export function openTransport(t: Transport, signal: AbortSignal, tls?: TlsFiles): Promise<Socket> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const ready = t.kind === "tls" ? "secureConnect" : "connect";
    const socket: Socket =
      t.kind === "unix"
        ? createConnection({ path: t.path })
        : t.kind === "tcp"
          ? createConnection({ host: t.host, port: t.port })
          : tlsConnect({
              host: t.host,
              port: t.port,
              ca: tls?.ca,
              cert: tls?.cert,
              key: tls?.key,
              // SNI takes names only (RFC 6066); an IP endpoint is still verified against the IP SANs.
              ...(tls?.serverName ?? (isIP(t.host) ? undefined : t.host) ? { servername: tls?.serverName ?? t.host } : {}),
            });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      signal.removeEventListener("abort", onAbort);
      socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once(ready, () => {
      if (t.kind !== "tls") return done();
      // libvirtd's verdict on our certificate: one byte, 1 = accepted, before the RPC stream.
      socket.once("data", (first: Buffer) => {
        socket.pause();
        if (first[0] !== 1) {
          socket.destroy();
          signal.removeEventListener("abort", onAbort);
          reject(new TlsRefusedError("the libvirt daemon refused our client certificate after the TLS handshake"));
          return;
        }
        if (first.length > 1) socket.unshift(first.subarray(1));
        done();
      });
    });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}
