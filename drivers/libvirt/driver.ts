// The libvirt driver: connect() opens the remote protocol connection, works out what the host
// offers (virt type, migration) and returns a Session.
import { homedir } from "node:os";
import { join } from "node:path";
import { RetryableError, TerminalError, type Credentials, type Driver, type HostConnection, type Session } from "../contract/index.ts";
import { toDriverError } from "./errors.ts";
import { Feature } from "./rpc/procedures.ts";
import { LibvirtRemote, type OpenOptions, type PoolOptions } from "./rpc/remote.ts";
import { parseLibvirtUri } from "./rpc/uri.ts";
import type { TlsFiles } from "./rpc/transport.ts";
import { LibvirtSession } from "./session.ts";
import { defaultPoolName, HostStorage } from "./volumes.ts";

/** Where qemu:///system keeps QEMU's logs on its host; the serial console log goes beside them. */
const systemQemuLogDir = "/var/log/libvirt/qemu";

/** libvirt version numbers are major*1e6 + minor*1e3 + release. */
export function versionString(v: bigint): string {
  const n = Number(v);
  return `${Math.floor(n / 1e6)}.${Math.floor(n / 1e3) % 1000}.${n % 1000}`;
}

async function pickVirtType(remote: LibvirtRemote, wanted: "kvm" | "qemu" | "auto"): Promise<"kvm" | "qemu"> {
  if (wanted !== "auto") return wanted;
  const caps = await remote.getCapabilities();
  return /<domain type=['"]kvm['"]/.test(caps) ? "kvm" : "qemu";
}

async function supports(remote: LibvirtRemote, feature: number): Promise<boolean> {
  try {
    return await remote.supportsFeature(feature);
  } catch {
    return false;
  }
}

function tlsFiles(host: HostConnection, credentials: Credentials | undefined): TlsFiles {
  const tls: TlsFiles = {};
  if (host.tls?.caPem) tls.ca = host.tls.caPem;
  if (host.tls?.serverName) tls.serverName = host.tls.serverName;
  if (credentials?.certPem) tls.cert = credentials.certPem;
  if (credentials?.keyPem) tls.key = credentials.keyPem;
  return tls;
}

function usesTls(endpoint: string): boolean {
  try {
    return parseLibvirtUri(endpoint).transport.kind === "tls";
  } catch {
    return false; // a malformed URI is reported by open() below
  }
}

export class LibvirtDriver implements Driver {
  readonly kind = "libvirt";
  private readonly keepalive: OpenOptions["keepalive"];

  /** keepalive: seconds between pings and missed pings before the connection counts as lost. */
  constructor(opts: { keepalive?: OpenOptions["keepalive"] } = {}) {
    this.keepalive = opts.keepalive;
  }

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const remote = await this.open(host, credentials, signal);
    try {
      const simulated = remote.uri.driver === "test";
      const options = host.libvirt ?? {};
      const { storage, consoleLogDir } = simulated ? {} : onHost(remote, options.storagePool, options.sharedStorage !== undefined);
      const [type, version, libVersion, virtType, p2p, params] = await Promise.all([
        remote.getType(),
        remote.getVersion(),
        remote.getLibVersion(),
        simulated ? Promise.resolve("qemu" as const) : pickVirtType(remote, options.virtType ?? "auto"),
        supports(remote, Feature.MIGRATION_P2P),
        supports(remote, Feature.MIGRATION_PARAMS),
      ]);
      const session = new LibvirtSession(remote, {
        virtType,
        simulated,
        ...(storage ? { storage } : {}),
        ...(consoleLogDir ? { consoleLogDir } : {}),
        ...(options.defaultNetwork === undefined ? {} : { defaultNetwork: options.defaultNetwork }),
        ...(options.defaultBridge === undefined ? {} : { defaultBridge: options.defaultBridge }),
        host: { hypervisor: type, version: `${versionString(version)} (libvirt ${versionString(libVersion)})`, ...(storage ? { storage } : {}) },
        liveMigration: !simulated && p2p && params,
        ...(options.sharedStorage ? { sharedStorage: options.sharedStorage } : {}),
        // A migration's target: one connection, only for the few calls around the move.
        openPeer: (peer, peerCredentials, peerSignal) => this.open({ ...peer, libvirt: { ...peer.libvirt, connections: 1 } }, peerCredentials, peerSignal),
      });
      return session;
    } catch (err) {
      remote.close();
      throw err instanceof RetryableError ? err : toDriverError(err, `connecting to ${host.endpoint}`);
    }
  }

  /** The RPC connections to a host, with its TLS client certificate when the endpoint is qemu+tls. */
  private async open(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<LibvirtRemote> {
    const opts: OpenOptions = { tls: tlsFiles(host, credentials) };
    // libvirtd's TLS listener authenticates clients by certificate: without one it never lets
    // us in, so say what is missing instead of waiting for a handshake that cannot succeed.
    if (usesTls(host.endpoint) && !(opts.tls?.cert && opts.tls.key)) {
      throw new TerminalError(
        `libvirt endpoint ${host.endpoint} uses TLS, which needs a client certificate and key (certPem/keyPem) in the Host's credentials Secret`,
        { reason: "tls" },
      );
    }
    if (this.keepalive) opts.keepalive = this.keepalive;
    return open(host, signal, opts);
  }
}

/** Where scripts/tiny-vm.sh and idle-vm.sh build the test images on this machine (make services uploads them to the pool). */
export function omnivisorImageStore(): string {
  return join(process.env["OMNIVISOR_CACHE"] ?? join(homedir(), ".cache", "omnivisor"), "images");
}

/**
 * Where a real host keeps what the driver makes: its storage pool (the default one is made on
 * first use; a pool the admin named must exist) and, for qemu:///system, the console logs.
 */
function onHost(remote: LibvirtRemote, storagePool: string | undefined, shared = false): { storage: HostStorage; consoleLogDir?: string } {
  const storage = new HostStorage(remote, storagePool ?? defaultPoolName, { createIfMissing: storagePool === undefined, shared });
  return remote.uri.name.endsWith("/system") ? { storage, consoleLogDir: systemQemuLogDir } : { storage };
}

/** The RPC connection; an endpoint that is not a usable libvirt URI is a terminal bad-endpoint. */
async function open(host: HostConnection, signal: AbortSignal, opts: OpenOptions): Promise<LibvirtRemote> {
  const endpoint = host.endpoint;
  const pool: PoolOptions = host.libvirt?.connections ? { poolSize: host.libvirt.connections } : {};
  try {
    return await LibvirtRemote.open(endpoint, signal, { ...opts, ...pool });
  } catch (err) {
    if (err instanceof Error && /^not a libvirt URI|transport .* is not supported|needs a host/.test(err.message)) {
      throw new TerminalError(`libvirt endpoint ${endpoint}: ${err.message}`, { reason: "bad-endpoint", cause: err });
    }
    throw toDriverError(err, `connecting to ${endpoint}`);
  }
}
