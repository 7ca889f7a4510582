// The driver contract: what every hypervisor driver (libvirt, docker, esxi, xenserver, hyperv)
// offers the controllers and the status watcher. Only plain data crosses it — no sockets, no
// vendor objects — so a controller can be tested against any driver, and a driver against the
// conformance suite (drivers/conformance) without Kubernetes.
//
// Rules every method follows (as crossplane's external clients do):
// - idempotent: calling twice with the same arguments leaves the same state and does not fail
//   because the first call already did the work;
// - non-blocking: nothing waits for a long job (a guest shutting down); the next observe reports
//   how far it got. migrateVm is the exception (see there): it returns when the VM has moved,
//   and migrationProgress reports how far it got meanwhile;
// - errors are DriverError subclasses (./errors.ts) with a `kind` saying what the caller should do.

export type DriverKind = "libvirt" | "docker" | "esxi" | "xenserver" | "hyperv";

/** A hypervisor endpoint, as the Host resource describes it. */
export interface HostConnection {
  /**
   * Endpoint URI, in the form the hypervisor's own tools use: "qemu:///system",
   * "test+unix:///default?socket=/run/x.sock", "qemu+tcp://10.0.0.2/system",
   * "unix:///var/run/docker.sock", "tcp://10.0.0.3:2376", "https://127.0.0.1:8989/sdk".
   */
  endpoint: string;
  tls?: TlsSettings;
  libvirt?: LibvirtOptions;
  docker?: DockerOptions;
}

export interface TlsSettings {
  /** PEM of the CA that signed the host's certificate; the system roots when absent. */
  caPem?: string;
  /**
   * SHA-256 fingerprint of the host's own (usually self-signed) certificate, hex with or without
   * colons, as ESXi's console shows it. When set, the certificate must match it exactly.
   */
  thumbprint?: string;
  /** Server name to verify instead of the endpoint's host name. */
  serverName?: string;
  /** Only for simulators in tests; never set by the operator for a real host. */
  insecureSkipVerify?: boolean;
}

export interface LibvirtOptions {
  /** Domain type: "kvm" needs /dev/kvm, "qemu" is TCG emulation, "auto" picks kvm when offered. */
  virtType?: "kvm" | "qemu" | "auto";
  /**
   * libvirt storage pool on the host holding VM disks and images (ADR 0015). Absent: the pool
   * "omnivisor", made at /var/lib/libvirt/omnivisor on first use; a named pool must exist.
   */
  storagePool?: string;
  /**
   * Connections to the host's libvirtd calls are spread over (1–16, default 4): the daemon serves
   * each client connection max_client_requests (default 5) calls at a time.
   */
  connections?: number;
  /** Bridge or libvirt network a spec network maps to when it names neither. */
  defaultBridge?: string;
  defaultNetwork?: string;
  /** Hosts naming the same shared storage see the same disk files (NFS): a migration between them moves memory only; otherwise disks are copied (shared-nothing). */
  sharedStorage?: string;
}

export interface DockerOptions {
  /** Docker network a spec network maps to when it names none ("bridge" when absent). */
  defaultNetwork?: string;
}

/** Secret material, resolved by the controller from the Host's credentials Secret. Never logged. */
export interface Credentials {
  username?: string;
  password?: string;
  /** Client certificate and key (PEM) for mutual TLS (Docker over TCP, libvirt TLS). */
  certPem?: string;
  keyPem?: string;
  token?: string;
}

/**
 * Who a VM is. `uid` is the Kubernetes UID of the VirtualMachine; every driver stores it in the
 * hypervisor's own metadata (libvirt metadata element, Docker label, ESX extraConfig, ...) so
 * create is idempotent by uid and a restarted operator finds what it created.
 */
export interface VmIdentity {
  uid: string;
  /** Hypervisor-side name; use hypervisorName() (./identity.ts) to derive it from namespace/name. */
  name: string;
  /** Kubernetes namespace and name, stored beside the uid for people reading the hypervisor. */
  namespace?: string;
  kubeName?: string;
  /**
   * The hypervisor's id (libvirt domain UUID, container id, ESX moref). When set, lookups fall
   * back to it if no VM carries `uid` — this is how an unmanaged VM is adopted in place. A VM
   * found there that carries another uid is not taken (canAdopt in ./identity.ts).
   */
  externalId?: string;
  /**
   * Set only when a VirtualMachine adopts an orphan by externalId: the uid that VM carries, which
   * no VirtualMachine has any more (the VM controller checked). Absent: a VM carrying another uid
   * is never taken.
   */
  adoptableUid?: string;
}

export type PowerState = "Running" | "Stopped" | "Paused";

export interface PowerTarget {
  state: PowerState;
  /**
   * How to reach Stopped: Soft asks the guest (ACPI / SIGTERM) and gives it deadlineSeconds,
   * Hard pulls the plug, TrySoft is soft then hard after the deadline (vm-operator's meaning).
   * Default TrySoft. Ignored for other states.
   */
  mode?: "Soft" | "Hard" | "TrySoft";
  deadlineSeconds?: number;
}

export interface DiskSpec {
  name: string;
  /** Size of a blank disk, or the minimum size of a disk from an image. */
  sizeGiB?: number;
  /**
   * Image name, resolved by the driver on its host: libvirt — volumes X.qcow2 / X.vmlinuz /
   * X.initrd in the host's storage pool (or pool/X); docker — an image reference such as "busybox:local" (the first disk's image is
   * the container image).
   */
  image?: string;
  /**
   * Bus the guest sees the disk on; absent: virtio, the driver's paravirtual bus (virtio-blk,
   * pvscsi, a Xen VBD, Hyper-V SCSI). A driver refuses (TerminalError, reason "unsupported-device")
   * a bus it cannot give; src/api/driver-support.ts lists what each can.
   */
  bus?: DiskBus;
  /** Boot order, lowest first; disks without one boot after those with one. */
  bootOrder?: number;
}

export type DiskBus = "virtio" | "scsi" | "sata" | "ide";
export type NicModel = "virtio" | "e1000" | "vmxnet3" | "netfront" | "synthetic";

export interface NetworkSpec {
  name: string;
  /** A bridge device on the host (libvirt). */
  bridge?: string;
  /** A hypervisor network: libvirt network, Docker network, ESX port group. */
  network?: string;
  /** NIC model; absent: virtio, the driver's paravirtual NIC (virtio-net, vmxnet3, netfront, synthetic). */
  model?: NicModel;
  /** Fixed MAC address, lower case; absent: the hypervisor generates one. */
  macAddress?: string;
}

/** cloud-init data for the guest, resolved from the VM's Secrets. Never logged. */
export interface CloudInitData {
  userData: string;
  /** cloud-init network-config (v1 or v2 YAML). */
  networkConfig?: string;
}

export interface VmSpec {
  cpus: number;
  memoryMiB: number;
  disks: DiskSpec[];
  /** Absent: one NIC on the host's default network. Empty: no network at all. */
  networks?: NetworkSpec[];
  /** Serial console (libvirt) / TTY (docker). */
  console?: boolean;
  /**
   * cloud-init data, handed to the guest the way the hypervisor's cloud-init datasource reads it
   * (libvirt: NoCloud seed CD-ROM; esxi: guestinfo; xenserver: xenstore-data; hyperv: NoCloud ISO
   * in the DVD drive). The instance id is the VM's uid. Docker refuses it (UnsupportedError).
   */
  cloudInit?: CloudInitData;
  /** Power state right after createVm; default Stopped (defined, not started). */
  power?: PowerTarget;
  /** Settings that only container drivers use (docker); VM drivers ignore them. */
  container?: { command?: string[]; env?: Record<string, string> };
}

export type ObservedPower = PowerState | "Crashed" | "Unknown";

export interface VmObservation {
  /** Present for managed VMs (they carry a uid); absent for unmanaged ones. */
  identity?: VmIdentity;
  externalId: string;
  /** Hypervisor-side name. */
  name: string;
  managed: boolean;
  power: ObservedPower;
  cpus: number;
  memoryMiB: number;
  addresses: string[];
  /**
   * Sizes of the disks the driver made for this VM, by spec disk name, where it can tell them
   * (observeVm only; listings leave them out). The VM controller grows a disk whose spec size is
   * larger; a driver that reports none cannot grow disks through the operator.
   */
  disks?: { name: string; sizeGiB: number }[];
}

export interface HostObservation {
  reachable: boolean;
  hypervisor: string;
  version: string;
  capacity: { cpus: number; memoryMiB: number; storageGiB?: number };
  /** Live usage of the host; absent when the hypervisor does not report it. */
  usage?: { cpuPercent: number; memoryUsedMiB: number };
  vms: { total: number; running: number; paused: number; stopped: number };
}

/**
 * One managed VM's own live usage, as its hypervisor reports it (observeVmUsage). Moves all the
 * time: it goes to memory and metrics, never into status (ADR 0037).
 */
export interface VmUsageSample {
  /** The VM's uid (its identity); only managed VMs are reported. */
  uid: string;
  /**
   * CPUs busy, in cores (0.5 = half of one core): averaged since this session's previous
   * observeVmUsage, or the hypervisor's own recent rate where it keeps one (vim25 quickStats,
   * Hyper-V CPUUsage, XenAPI VCPUs_utilisation). Undefined when there is no earlier sample to
   * average from (the first call, or a VM that just started).
   */
  cpus?: number;
  /** Memory the guest uses, in MiB, fractions kept for small containers (libvirt balloon.rss, container usage without page cache, vim25 guestMemoryUsage, ...). */
  memoryMiB: number;
}

export interface Capabilities {
  pause: boolean;
  softPowerOff: boolean;
  liveMigration: boolean;
  snapshots: boolean;
  clone: boolean;
  /** updateVm can change CPUs and memory of a running VM without a restart. */
  liveResize: boolean;
}

export type VmEventType =
  | "defined"
  | "started"
  | "stopped"
  | "paused"
  | "resumed"
  | "deleted"
  | "migrated"
  | "crashed";

export interface VmEvent {
  type: VmEventType;
  externalId: string;
  /** Present when the VM is managed and the driver could still read its metadata. */
  identity?: VmIdentity;
  name?: string;
  at: Date;
  /** Free text for people (exit code, libvirt reason, "missed while disconnected"). */
  detail?: string;
}

/** Where migrateVm moves a VM: another host of the same driver kind. */
export interface MigrationTarget {
  host: HostConnection;
  credentials?: Credentials;
  live: boolean;
  /**
   * Most the migration may send per second, in MiB (memory and copied disks); absent: as fast as
   * the hypervisor goes. Keeps a large move from filling the hosts' link. Drivers that cannot
   * limit it (xenserver, hyperv) ignore it.
   */
  bandwidthMiBps?: number;
}

/** How far a migration got, from the hypervisor's job info. Absent numbers: the hypervisor does not say. */
export interface MigrationProgress {
  memoryTotalBytes?: number;
  memoryProcessedBytes?: number;
  memoryRemainingBytes?: number;
  diskTotalBytes?: number;
  diskProcessedBytes?: number;
  diskRemainingBytes?: number;
  /** 0–100 (integer), over memory and disk together where both are known. */
  percent: number;
}

export interface MigrationResult {
  /** The guest's pause at the switch-over, where the hypervisor reports it. */
  downtimeMs?: number;
}

export interface Driver {
  readonly kind: DriverKind;
  /**
   * Opens a session to one host. Fails with RetryableError when the host cannot be reached and
   * TerminalError when the credentials or endpoint are wrong. `signal` aborts the attempt.
   */
  connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session>;
}

export interface Session {
  capabilities(): Capabilities;
  /** Capacity, live usage and VM counts. Never changes anything. */
  observeHost(): Promise<HostObservation>;
  /**
   * Every managed VM that runs (or is paused) on the host, with its own CPU and memory usage — in
   * one request to the hypervisor (or one per VM where its API has no other way: Docker). Stopped
   * and unmanaged VMs are not reported. Absent when the driver has no per-VM stats; rejects with
   * UnsupportedError, saying why, when this host has none (libvirt's test driver). Never changes
   * anything; the only state it keeps is the previous CPU counters, for the next average.
   */
  observeVmUsage?(): Promise<VmUsageSample[]>;
  /** Every VM on the host, managed (with identity) and unmanaged (without). */
  listVms(): Promise<VmObservation[]>;
  /** The VM carrying identity.uid (or, failing that, identity.externalId); undefined when absent. */
  observeVm(identity: VmIdentity): Promise<VmObservation | undefined>;
  /**
   * Creates the VM, then applies spec.power. Idempotent by uid: when a VM with this uid exists it
   * is returned unchanged. Fails with TerminalError (reason "name-taken") when another VM already
   * has identity.name.
   */
  createVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation>;
  /** Changes CPUs and memory (and what else the driver can change in place). NotFoundError when absent. */
  updateVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation>;
  /**
   * Moves the VM toward target. Already there: success. Impossible from the current state (e.g.
   * Paused from Stopped): InvalidTransitionError. NotFoundError when absent.
   */
  setPower(identity: VmIdentity, target: PowerTarget): Promise<void>;
  /** Stops (hard) and removes the VM and the disks it created. Absent counts as success. */
  deleteVm(identity: VmIdentity): Promise<void>;
  /**
   * Moves the VM (live, or offline when stopped / target.live false). Resolves when it runs (or
   * is defined) on the target — the one method that waits for a long job, because the hypervisor
   * call does; migrationProgress and cancelMigration work meanwhile. Idempotent: the VM already
   * on the target is success (hyperv: NotFoundError, it cannot look at the target from here).
   * NotFoundError when it is on neither host, RetryableError when the target cannot be reached
   * or a migration of it already runs, UnsupportedError when the driver cannot migrate (or not
   * this way), MigrationCancelledError (./errors.ts, kind terminal) when cancelMigration stopped it.
   */
  migrateVm(identity: VmIdentity, target: MigrationTarget): Promise<MigrationResult>;
  /** The migration of this VM now running from this host; undefined when none runs (or the driver cannot migrate). Never changes anything. */
  migrationProgress(identity: VmIdentity): Promise<MigrationProgress | undefined>;
  /**
   * Stops this VM's migration from this host: the VM stays here, running as before. No-op when none runs.
   * Resolves once the guest runs here again; too late — it finished moving meanwhile — is
   * InvalidTransitionError (reason "migration-finished"). The migrateVm in flight fails with
   * MigrationCancelledError.
   */
  cancelMigration(identity: VmIdentity): Promise<void>;
  /**
   * Subscribes to the host's VM events. The promise resolves once the subscription is live: every
   * change after that is delivered, including changes made outside the driver. The iteration
   * ends when `signal` aborts and throws RetryableError when the connection drops.
   */
  watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>>;
  /** Releases the connection; a watch in progress ends. Idempotent. */
  close(): Promise<void>;
}
