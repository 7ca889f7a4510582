// Where a libvirt URI points and what the daemon is asked to open. This follows libvirt's remote
// driver: "driver[+transport]://[host[:port]]/path[?query]"; the transport part and the remote
// driver's own query parameters (socket, TLS files) are stripped before the name goes on the wire.

export type Transport =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "tls"; host: string; port: number };

export interface ParsedUri {
  /** The hypervisor driver: "qemu", "test", "xen", ... */
  driver: string;
  transport: Transport;
  /** The URI sent in CONNECT_OPEN, e.g. "qemu:///system" or "test:///default". */
  name: string;
}

export const DEFAULT_SOCKET = "/run/libvirt/libvirt-sock";
const REMOTE_ONLY_PARAMS = new Set(["socket", "no_verify", "no_tty", "pkipath", "keyfile", "sshauth", "mode", "proxy", "name", "command", "netcat"]);

export function parseLibvirtUri(uri: string): ParsedUri {
  const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/i.exec(uri);
  if (!m) throw new Error(`not a libvirt URI: ${uri}`);
  const [, driver = "", explicitTransport, authority = "", path = "/", query = ""] = m;
  const params = new URLSearchParams(query);
  const host = authority.replace(/^[^@]*@/, "");
  const [hostname = "", portText] = host.startsWith("[") ? [host.slice(1, host.indexOf("]")), host.split("]:")[1]] : host.split(":");
  const kind = explicitTransport ?? (hostname ? "tls" : "unix");

  let transport: Transport;
  if (kind === "unix") {
    transport = { kind: "unix", path: params.get("socket") ?? DEFAULT_SOCKET };
  } else if (kind === "tcp" || kind === "tls") {
    if (!hostname) throw new Error(`libvirt URI ${uri}: transport ${kind} needs a host`);
    transport = { kind, host: hostname, port: portText ? Number(portText) : kind === "tcp" ? 16509 : 16514 };
  } else {
    throw new Error(`libvirt URI ${uri}: transport "${kind}" is not supported (unix, tcp, tls)`);
  }

  const kept = [...params.entries()].filter(([k]) => !REMOTE_ONLY_PARAMS.has(k));
  const rest = kept.length ? `?${new URLSearchParams(kept).toString()}` : "";
  const name = params.get("name") ?? `${driver}://${path}${rest}`;
  return { driver, transport, name };
}
