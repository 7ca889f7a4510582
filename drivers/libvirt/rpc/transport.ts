// Opens the byte stream to a libvirt daemon: a unix socket, plain TCP, or TLS (client certificate
// authentication, as libvirtd's listen_tls expects).
import { createConnection, type Socket } from "node:net";
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

export function openTransport(t: Transport, signal: AbortSignal, tls?: TlsFiles): Promise<Socket> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const ready = t.kind === "tls" ? "secureConnect" : "connect";
    const socket: Socket =
      t.kind === "unix"
        ? createConnection({ path: t.path })
        : t.kind === "tcp"
          ? createConnection({ host: t.host, port: t.port })
          : tlsConnect({ host: t.host, port: t.port, ca: tls?.ca, cert: tls?.cert, key: tls?.key, servername: tls?.serverName ?? t.host });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once(ready, () => {
      signal.removeEventListener("abort", onAbort);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}
