// The remote program's procedures this driver needs, as typed methods over one RpcClient.
// Argument and reply layouts follow the remote_*_args / remote_*_ret structs of remote_protocol.x.
import { ConnectionLostError, RpcClient, type KeepaliveOptions } from "./client.ts";
import {
  readDomainRef,
  readStoragePoolRef,
  readStorageVolRef,
  writeDomainRef,
  writeStoragePoolRef,
  writeStorageVolRef,
  type DomainRef,
  type StoragePoolRef,
  type StorageVolRef,
} from "./protocol.ts";
import { Affect, AuthType, EventId, Feature, MetadataType, Proc } from "./procedures.ts";
import { openTransport, type TlsFiles } from "./transport.ts";
import { readTypedParam, writeTypedParam, type TypedParameter, type TypedValue } from "./typed-params.ts";
import { parseLibvirtUri, type ParsedUri } from "./uri.ts";
import type { XdrReader } from "./xdr.ts";

export interface NodeInfo {
  model: string;
  /** KiB */
  memoryKiB: bigint;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainInfo {
  state: number;
  maxMemKiB: bigint;
  memoryKiB: bigint;
  vcpus: number;
  cpuTimeNs: bigint;
}

/** STORAGE_POOL_GET_INFO, in bytes. */
export interface PoolInfo {
  /** virStoragePoolState (PoolState) */
  state: number;
  capacity: bigint;
  allocation: bigint;
  available: bigint;
}

/** STORAGE_VOL_GET_INFO, in bytes: capacity is what the guest sees, allocation what the host spends. */
export interface VolInfo {
  type: number;
  capacity: bigint;
  allocation: bigint;
}

export interface LifecycleMessage {
  callbackId: number;
  domain: DomainRef;
  event: number;
  detail: number;
}

/** DOMAIN_GET_JOB_STATS: the job's type (JobType) and its typed fields by name. */
export interface JobStats {
  type: number;
  fields: Map<string, TypedValue>;
}

export interface OpenOptions {
  tls?: TlsFiles;
  keepalive?: KeepaliveOptions;
}

/**
 * libvirtd serves at most max_client_requests (default 5) calls of one client connection at a
 * time; the rest wait in its socket. Plain calls therefore spread over up to `poolSize`
 * connections, a new one opened when every open one has that many in flight.
 */
const callsPerConnection = 5;
const defaultPoolSize = 4;
/** After an extra connection failed to open, the ones open are used alone for this long. */
const poolRetryMs = 30_000;

export interface PoolOptions {
  /** Connections per host (the first included); 1 = a single connection. Default 4. */
  poolSize?: number;
}

export class LibvirtRemote {
  /** The first connection: events, streams, open and close go here, and its loss ends the session. */
  readonly rpc: RpcClient;
  readonly uri: ParsedUri;
  private readonly extras: RpcClient[] = [];
  /** Connections opened for one long call each (a migration), closed when it returns. */
  private readonly dedicated = new Set<RpcClient>();
  private readonly connect: (() => Promise<RpcClient>) | undefined;
  private readonly poolSize: number;
  private growing = false;
  private growAfter = 0;

  private constructor(rpc: RpcClient, uri: ParsedUri, connect?: () => Promise<RpcClient>, poolSize = 1) {
    this.rpc = rpc;
    this.uri = uri;
    this.connect = connect;
    this.poolSize = poolSize;
    rpc.onClose(() => {
      for (const extra of this.extras.splice(0)) extra.close();
      for (const own of this.dedicated) own.close();
    });
  }

  /** Connects, checks that no authentication is required, enables keepalive and opens the URI. */
  static async open(uri: string, signal: AbortSignal, opts: OpenOptions & PoolOptions = {}): Promise<LibvirtRemote> {
    const parsed = parseLibvirtUri(uri);
    const connection = (signal: AbortSignal): Promise<RpcClient> => connectOne(parsed, uri, signal, opts);
    const first = await connection(signal);
    // libvirt's test driver keeps a simulated host per connection (test:///path/node.xml): one only
    const poolSize = parsed.driver === "test" ? 1 : (opts.poolSize ?? defaultPoolSize);
    return new LibvirtRemote(first, parsed, () => connection(AbortSignal.timeout(15_000)), poolSize);
  }

  /** Connections open for calls (the first included). */
  get connections(): number {
    return 1 + this.extras.length;
  }

  /** The connection for a plain call: the least busy; one more is opened when all are full. */
  private calls(): RpcClient {
    let best = this.rpc;
    for (const c of this.extras) if (!c.closed && c.inFlight < best.inFlight) best = c;
    if (best.inFlight >= callsPerConnection) this.grow();
    return best;
  }

  private grow(): void {
    if (!this.connect || this.growing || this.rpc.closed || this.connections >= this.poolSize || Date.now() < this.growAfter) return;
    this.growing = true;
    this.connect().then(
      (extra) => {
        this.growing = false;
        if (this.rpc.closed) return extra.close();
        this.extras.push(extra);
        extra.onClose(() => {
          const at = this.extras.indexOf(extra);
          if (at >= 0) this.extras.splice(at, 1);
        });
      },
      () => {
        this.growing = false;
        this.growAfter = Date.now() + poolRetryMs; // the first connection carries on alone
      },
    );
  }

  /**
   * Runs one long call (a migration holds its call until the VM has moved) on a connection of its
   * own: on a shared one it would take one of the daemon's 5 slots for that connection for
   * minutes, and calls queued behind full slots — progress, abort — would wait for it.
   */
  private async alone<T>(fn: (rpc: RpcClient) => Promise<T>): Promise<T> {
    if (!this.connect) return fn(this.calls());
    const own = await this.connect();
    if (this.rpc.closed) {
      own.close();
      throw new ConnectionLostError("libvirt connection closed by the client");
    }
    this.dedicated.add(own);
    try {
      return await fn(own);
    } finally {
      this.dedicated.delete(own);
      own.close();
    }
  }

  close(): void {
    this.rpc.close();
  }

  /** Polite close: tells the daemon first (it then drops our event callbacks at once). */
  async closeGracefully(): Promise<void> {
    try {
      // A hung daemon must not hang close(): give it a moment, then just drop the socket.
      if (!this.rpc.closed) await Promise.race([this.rpc.call(Proc.CONNECT_CLOSE), new Promise((r) => setTimeout(r, 2_000).unref())]);
    } catch {
      /* the connection is going away either way */
    }
    this.rpc.close();
  }

  async authList(): Promise<number[]> {
    const r = await this.rpc.call(Proc.AUTH_LIST);
    return r.array((x) => x.int());
  }

  async supportsFeature(feature: number): Promise<boolean> {
    const r = await this.rpc.call(Proc.CONNECT_SUPPORTS_FEATURE, (w) => w.int(feature));
    return r.int() !== 0;
  }

  async getType(): Promise<string> {
    return (await this.calls().call(Proc.CONNECT_GET_TYPE)).string();
  }

  /** Hypervisor version as major*1e6 + minor*1e3 + release. */
  async getVersion(): Promise<bigint> {
    return (await this.calls().call(Proc.CONNECT_GET_VERSION)).uhyper();
  }

  async getLibVersion(): Promise<bigint> {
    return (await this.calls().call(Proc.CONNECT_GET_LIB_VERSION)).uhyper();
  }

  /** The capabilities XML (guest types, e.g. whether domain type kvm is offered). */
  async getCapabilities(): Promise<string> {
    return (await this.calls().call(Proc.CONNECT_GET_CAPABILITIES)).string();
  }

  async getHostname(): Promise<string> {
    return (await this.calls().call(Proc.CONNECT_GET_HOSTNAME)).string();
  }

  async nodeGetInfo(): Promise<NodeInfo> {
    const r = await this.calls().call(Proc.NODE_GET_INFO);
    // char model[32] is a fixed array of 32 XDR chars, each a 4-byte word.
    const chars: number[] = [];
    for (let i = 0; i < 32; i++) chars.push(r.int());
    const model = String.fromCharCode(...chars.filter((c) => c > 0));
    return { model, memoryKiB: r.uhyper(), cpus: r.int(), mhz: r.int(), nodes: r.int(), sockets: r.int(), cores: r.int(), threads: r.int() };
  }

  /** Cumulative CPU times (ns) summed over all CPUs: fields kernel, user, idle, iowait. */
  async nodeGetCpuStats(): Promise<Map<string, bigint>> {
    const probe = await this.calls().call(Proc.NODE_GET_CPU_STATS, (w) => w.int(-1).int(0).uint(0));
    probe.array(readStat);
    const n = probe.int();
    const r = await this.calls().call(Proc.NODE_GET_CPU_STATS, (w) => w.int(-1).int(n).uint(0));
    return new Map(r.array(readStat));
  }

  /** Memory figures (KiB) over all cells: fields total, free, buffers, cached. */
  async nodeGetMemoryStats(): Promise<Map<string, bigint>> {
    const probe = await this.calls().call(Proc.NODE_GET_MEMORY_STATS, (w) => w.int(0).int(-1).uint(0));
    probe.array(readStat);
    const n = probe.int();
    const r = await this.calls().call(Proc.NODE_GET_MEMORY_STATS, (w) => w.int(n).int(-1).uint(0));
    return new Map(r.array(readStat));
  }

  /** flags: virConnectListAllDomainsFlags, 0 = every domain. */
  async listAllDomains(flags = 0): Promise<DomainRef[]> {
    const r = await this.calls().call(Proc.CONNECT_LIST_ALL_DOMAINS, (w) => w.int(1).uint(flags));
    return r.array(readDomainRef);
  }

  async lookupByName(name: string): Promise<DomainRef> {
    return readDomainRef(await this.calls().call(Proc.DOMAIN_LOOKUP_BY_NAME, (w) => w.string(name)));
  }

  async lookupByUuid(uuid: Buffer): Promise<DomainRef> {
    return readDomainRef(await this.calls().call(Proc.DOMAIN_LOOKUP_BY_UUID, (w) => w.fixedOpaque(uuid)));
  }

  async defineXml(xml: string, flags = 0): Promise<DomainRef> {
    return readDomainRef(await this.calls().call(Proc.DOMAIN_DEFINE_XML_FLAGS, (w) => w.string(xml).uint(flags)));
  }

  async createWithFlags(dom: DomainRef, flags = 0): Promise<DomainRef> {
    return readDomainRef(await this.calls().call(Proc.DOMAIN_CREATE_WITH_FLAGS, (w) => (writeDomainRef(w, dom), w.uint(flags))));
  }

  async shutdown(dom: DomainRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.DOMAIN_SHUTDOWN_FLAGS, (w) => (writeDomainRef(w, dom), w.uint(flags)));
  }

  async destroy(dom: DomainRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.DOMAIN_DESTROY_FLAGS, (w) => (writeDomainRef(w, dom), w.uint(flags)));
  }

  async undefine(dom: DomainRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.DOMAIN_UNDEFINE_FLAGS, (w) => (writeDomainRef(w, dom), w.uint(flags)));
  }

  async suspend(dom: DomainRef): Promise<void> {
    await this.calls().call(Proc.DOMAIN_SUSPEND, (w) => writeDomainRef(w, dom));
  }

  async resume(dom: DomainRef): Promise<void> {
    await this.calls().call(Proc.DOMAIN_RESUME, (w) => writeDomainRef(w, dom));
  }

  async getState(dom: DomainRef): Promise<{ state: number; reason: number }> {
    const r = await this.calls().call(Proc.DOMAIN_GET_STATE, (w) => (writeDomainRef(w, dom), w.uint(0)));
    return { state: r.int(), reason: r.int() };
  }

  async getInfo(dom: DomainRef): Promise<DomainInfo> {
    const r = await this.calls().call(Proc.DOMAIN_GET_INFO, (w) => writeDomainRef(w, dom));
    // unsigned char and unsigned short travel as 4-byte XDR words.
    return { state: r.uint(), maxMemKiB: r.uhyper(), memoryKiB: r.uhyper(), vcpus: r.uint(), cpuTimeNs: r.uhyper() };
  }

  async getXmlDesc(dom: DomainRef, flags = 0): Promise<string> {
    return (await this.calls().call(Proc.DOMAIN_GET_XML_DESC, (w) => (writeDomainRef(w, dom), w.uint(flags)))).string();
  }

  /** Guest IP addresses; source 0 = the libvirt network's DHCP leases (no guest agent needed). */
  async interfaceAddresses(dom: DomainRef, source = 0): Promise<{ name: string; mac?: string; addrs: string[] }[]> {
    const r = await this.calls().call(Proc.DOMAIN_INTERFACE_ADDRESSES, (w) => (writeDomainRef(w, dom), w.uint(source).uint(0)));
    return r.array((x) => {
      const name = x.string();
      const mac = x.optionalString();
      // remote_domain_ip_addr: type, address, prefix length
      const addrs = x.array((a) => {
        a.int();
        const addr = a.string();
        a.uint();
        return addr;
      });
      return mac === undefined ? { name, addrs } : { name, mac, addrs };
    });
  }

  /** An element in our own namespace under <metadata>; rejects with VIR_ERR_NO_DOMAIN_METADATA when absent. */
  async getMetadata(dom: DomainRef, nsUri: string, impact = Affect.Current): Promise<string> {
    const r = await this.calls().call(Proc.DOMAIN_GET_METADATA, (w) => {
      writeDomainRef(w, dom);
      w.int(MetadataType.Element).optionalString(nsUri).uint(impact);
    });
    return r.string();
  }

  /** Sets (or with xml undefined removes) our namespaced metadata element. */
  async setMetadata(dom: DomainRef, meta: { xml: string | undefined; key: string; nsUri: string }, impact = Affect.Current): Promise<void> {
    await this.calls().call(Proc.DOMAIN_SET_METADATA, (w) => {
      writeDomainRef(w, dom);
      w.int(MetadataType.Element).optionalString(meta.xml).optionalString(meta.key).optionalString(meta.nsUri).uint(impact);
    });
  }

  /** Registers for lifecycle events of every domain; returns the daemon's callback id. */
  async registerLifecycleEvents(): Promise<number> {
    const r = await this.rpc.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, (w) => w.int(EventId.Lifecycle).optional(undefined, () => undefined));
    return r.int();
  }

  async deregisterEvents(callbackId: number): Promise<void> {
    await this.rpc.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, (w) => w.int(callbackId));
  }

  /** Subscribes to decoded lifecycle messages; returns an unsubscribe function. */
  onLifecycle(listener: (msg: LifecycleMessage) => void): () => void {
    return this.rpc.onEvent((proc, body) => {
      if (proc !== Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) return;
      const callbackId = body.int();
      listener({ callbackId, domain: readDomainRef(body), event: body.int(), detail: body.int() });
    });
  }

  /** Grows a running domain's disk (target such as "vda", or its path) to `bytes`. */
  async blockResize(dom: DomainRef, disk: string, bytes: bigint, flags = 0): Promise<void> {
    await this.calls().call(Proc.DOMAIN_BLOCK_RESIZE, (w) => (writeDomainRef(w, dom), w.string(disk).uhyper(bytes).uint(flags)));
  }

  // Storage pools and volumes (remote_storage_* in remote_protocol.x).

  async poolLookupByName(name: string): Promise<StoragePoolRef> {
    return readStoragePoolRef(await this.calls().call(Proc.STORAGE_POOL_LOOKUP_BY_NAME, (w) => w.string(name)));
  }

  /** Defines a persistent pool from its XML (not started). */
  async poolDefineXml(xml: string, flags = 0): Promise<StoragePoolRef> {
    return readStoragePoolRef(await this.calls().call(Proc.STORAGE_POOL_DEFINE_XML, (w) => w.string(xml).uint(flags)));
  }

  /** Builds the pool's underlying storage (a dir pool: creates its directory). */
  async poolBuild(pool: StoragePoolRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.STORAGE_POOL_BUILD, (w) => (writeStoragePoolRef(w, pool), w.uint(flags)));
  }

  /** Starts (activates) a defined pool. */
  async poolCreate(pool: StoragePoolRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.STORAGE_POOL_CREATE, (w) => (writeStoragePoolRef(w, pool), w.uint(flags)));
  }

  async poolSetAutostart(pool: StoragePoolRef, autostart: boolean): Promise<void> {
    await this.calls().call(Proc.STORAGE_POOL_SET_AUTOSTART, (w) => (writeStoragePoolRef(w, pool), w.bool(autostart)));
  }

  /** Re-reads the pool's storage: volumes made by someone else (another daemon, a copy) appear. */
  async poolRefresh(pool: StoragePoolRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.STORAGE_POOL_REFRESH, (w) => (writeStoragePoolRef(w, pool), w.uint(flags)));
  }

  async poolGetInfo(pool: StoragePoolRef): Promise<PoolInfo> {
    const r = await this.calls().call(Proc.STORAGE_POOL_GET_INFO, (w) => writeStoragePoolRef(w, pool));
    // unsigned char state travels as a 4-byte XDR word
    return { state: r.uint(), capacity: r.uhyper(), allocation: r.uhyper(), available: r.uhyper() };
  }

  /** The names of the pool's volumes (as of its last refresh). */
  async poolListVolumes(pool: StoragePoolRef): Promise<string[]> {
    const count = (await this.calls().call(Proc.STORAGE_POOL_NUM_OF_VOLUMES, (w) => writeStoragePoolRef(w, pool))).int();
    if (count === 0) return [];
    const r = await this.calls().call(Proc.STORAGE_POOL_LIST_VOLUMES, (w) => (writeStoragePoolRef(w, pool), w.int(count)));
    return r.array((x) => x.string());
  }

  async volLookupByName(pool: StoragePoolRef, name: string): Promise<StorageVolRef> {
    return readStorageVolRef(await this.calls().call(Proc.STORAGE_VOL_LOOKUP_BY_NAME, (w) => (writeStoragePoolRef(w, pool), w.string(name))));
  }

  /** Creates a volume from its XML (name, capacity, format, optional backing store). */
  async volCreateXml(pool: StoragePoolRef, xml: string, flags = 0): Promise<StorageVolRef> {
    return readStorageVolRef(await this.calls().call(Proc.STORAGE_VOL_CREATE_XML, (w) => (writeStoragePoolRef(w, pool), w.string(xml).uint(flags))));
  }

  async volDelete(vol: StorageVolRef, flags = 0): Promise<void> {
    await this.calls().call(Proc.STORAGE_VOL_DELETE, (w) => (writeStorageVolRef(w, vol), w.uint(flags)));
  }

  async volGetInfo(vol: StorageVolRef): Promise<VolInfo> {
    const r = await this.calls().call(Proc.STORAGE_VOL_GET_INFO, (w) => writeStorageVolRef(w, vol));
    // char type travels as a 4-byte XDR word
    return { type: r.int(), capacity: r.uhyper(), allocation: r.uhyper() };
  }

  /** Where the volume is on the host (the path a domain's disk or kernel refers to). */
  async volGetPath(vol: StorageVolRef): Promise<string> {
    return (await this.calls().call(Proc.STORAGE_VOL_GET_PATH, (w) => writeStorageVolRef(w, vol))).string();
  }

  /** Sets the volume's capacity (bytes); shrinking needs a flag we never pass. */
  async volResize(vol: StorageVolRef, capacity: bigint, flags = 0): Promise<void> {
    await this.calls().call(Proc.STORAGE_VOL_RESIZE, (w) => (writeStorageVolRef(w, vol), w.uhyper(capacity).uint(flags)));
  }

  /** Writes `length` bytes of data into the volume from `offset` through an RPC stream. */
  async volUpload(vol: StorageVolRef, data: AsyncIterable<Uint8Array>, range: { offset: bigint; length: bigint }, flags = 0): Promise<void> {
    await this.rpc.upload(Proc.STORAGE_VOL_UPLOAD, (w) => (writeStorageVolRef(w, vol), w.uhyper(range.offset).uhyper(range.length).uint(flags)), data);
  }

  /** Reads `length` bytes of the volume from `offset` through an RPC stream (0: to its end). */
  volDownload(vol: StorageVolRef, range: { offset: bigint; length: bigint }, flags = 0): Promise<Buffer> {
    return this.rpc.download(Proc.STORAGE_VOL_DOWNLOAD, (w) => (writeStorageVolRef(w, vol), w.uhyper(range.offset).uhyper(range.length).uint(flags)));
  }

  /**
   * Peer-to-peer migration driven by the source daemon (dconnuri = the destination's URI). The
   * call returns when the migration has ended, so it runs on a connection of its own (alone()).
   */
  async migratePerform3Params(dom: DomainRef, dconnuri: string, params: TypedParameter[], flags: number): Promise<void> {
    await this.alone((rpc) =>
      rpc.call(Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS, (w) => {
        writeDomainRef(w, dom);
        w.optionalString(dconnuri).array(params, writeTypedParam).opaque(Buffer.alloc(0)).uint(flags);
      }),
    );
  }

  /** The domain's current job (flags 0) or, with JobStatsFlags.COMPLETED, its last completed one. */
  async getJobStats(dom: DomainRef, flags = 0): Promise<JobStats> {
    const r = await this.calls().call(Proc.DOMAIN_GET_JOB_STATS, (w) => (writeDomainRef(w, dom), w.uint(flags)));
    const type = r.int();
    return { type, fields: new Map(r.array(readTypedParam).map((p) => [p.field, p.value])) };
  }

  /**
   * Stats of every domain the flags select (virConnectGetAllDomainStats), in one call: `stats`
   * are DomainStats groups, `flags` DomainStatsFlags; each record is the domain and its fields
   * ("cpu.time", "balloon.rss", ...). The doms<> argument is empty: all domains.
   */
  async getAllDomainStats(stats: number, flags: number): Promise<{ dom: DomainRef; fields: Map<string, TypedValue> }[]> {
    const r = await this.calls().call(Proc.CONNECT_GET_ALL_DOMAIN_STATS, (w) => w.uint(0).uint(stats).uint(flags));
    return r.array((x) => ({ dom: readDomainRef(x), fields: new Map(x.array(readTypedParam).map((p) => [p.field, p.value])) }));
  }

  /** Aborts the domain's current job (a migration: the guest keeps running here). */
  async abortJob(dom: DomainRef): Promise<void> {
    await this.calls().call(Proc.DOMAIN_ABORT_JOB, (w) => writeDomainRef(w, dom));
  }
}

function readStat(r: XdrReader): [string, bigint] {
  return [r.string(), r.uhyper()];
}

/** One connection: transport, no authentication required, keepalive, the URI opened. */
async function connectOne(parsed: ParsedUri, uri: string, signal: AbortSignal, opts: OpenOptions): Promise<RpcClient> {
  const socket = await openTransport(parsed.transport, signal, opts.tls);
  const rpc = new RpcClient(socket, opts.keepalive);
  const onAbort = (): void => rpc.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const auth = (await rpc.call(Proc.AUTH_LIST)).array((x) => x.int());
    if (auth.length > 0 && !auth.includes(AuthType.None)) {
      throw new ConnectionLostError(`libvirt at ${uri} requires authentication (types ${auth.join(", ")}); only none is supported (unix socket as root, or TLS client certificates)`);
    }
    await rpc.call(Proc.CONNECT_SUPPORTS_FEATURE, (w) => w.int(Feature.PROGRAM_KEEPALIVE));
    await rpc.call(Proc.CONNECT_OPEN, (w) => w.optionalString(parsed.name).uint(0));
    return rpc;
  } catch (err) {
    rpc.close();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
