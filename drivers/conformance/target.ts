// What a driver's test file hands the conformance suite: how to reach a host through the driver,
// a small VM spec that runs there, and hooks that act on the host *outside* the driver (the
// hypervisor's own CLI), so the suite can check the driver sees what others do.
import type { Credentials, DiskBus, Driver, HostConnection, NetworkSpec, NicModel, PowerState, Session, VmIdentity, VmSpec } from "../contract/index.ts";

export interface ConformanceTarget {
  /** Shown in test names, e.g. "docker (/var/run/docker.sock)". */
  name: string;
  /** A fresh driver; the suite connects it to `host`. */
  driver: () => Driver;
  host: HostConnection;
  credentials?: Credentials;
  /**
   * Unique per test run (e.g. "ct-docker-<random>"). Every VM the suite creates is named with it,
   * and `hooks.cleanup` removes everything carrying it.
   */
  prefix: string;
  /** A small VM (1 CPU, little memory) that runs on this host until told otherwise. */
  spec: () => VmSpec;
  hooks: ConformanceHooks;
  /** How many VMs the parallel test creates at once (default 20). */
  parallel?: number;
  /**
   * Why this host reports no per-VM usage (its session has no observeVmUsage, or that rejects as
   * unsupported — libvirt's test driver); absent: it must report it.
   */
  noVmUsage?: string;
  /** How long an event or an outside change may take to show (default 20 s). */
  eventTimeoutMs?: number;
}

export interface ConformanceHooks {
  /** Creates a running VM directly on the host (not through the driver, no identity) named `name`; returns its externalId. */
  createUnmanagedVm(name: string): Promise<string>;
  /** Changes a VM's power outside the driver (virsh / docker CLI). */
  setPowerOutside(externalId: string, state: PowerState): Promise<void>;
  /** Deletes a VM outside the driver; absent is fine. */
  deleteOutside(externalId: string): Promise<void>;
  /**
   * A session whose connection the test can cut (e.g. through a socket proxy it closes, or by
   * killing a private daemon). After `drop()`, calls must fail with RetryableError and a watch in
   * progress must end with RetryableError — never crash the process. `dispose()` frees what the
   * hook set up (the session is closed by the suite).
   */
  droppableSession(signal: AbortSignal): Promise<{ session: Session; drop: () => Promise<void>; dispose: () => Promise<void> }>;
  /**
   * A session to the same host as the suite's, through a connection the test can cut (a proxy in
   * front of the host's socket or port). After `cut()`, calls in flight fail with RetryableError.
   */
  cuttableSession(signal: AbortSignal): Promise<{ session: Session; cut: () => Promise<void>; dispose: () => Promise<void> }>;
  /**
   * What the host still holds of a VM besides the VM itself — disk files, volumes, VDIs — as the
   * host's own tools list them; or why there is nothing to look at on this host.
   */
  leftovers: ((identity: VmIdentity) => Promise<string[]>) | { notApplicable: string };
  /**
   * The user data the host holds for the VM's guest, read in the host's own view (the seed
   * volume's ISO, guestinfo, xenstore-data, the ISO in the DVD drive); `refused`: why the driver
   * refuses cloud-init (its createVm fails as unsupported); `notApplicable`: why this host has
   * nothing to look at although the driver takes it.
   */
  cloudInit: { userData: (identity: VmIdentity) => Promise<string | undefined> } | { refused: string } | { notApplicable: string };
  /** Which device values the driver takes and how the host shows a VM's devices. */
  devices: DeviceValues;
  /** Removes every VM whose name starts with `prefix` (the afterAll safety net). */
  cleanup(prefix: string): Promise<void>;
}

/** The device values a driver is checked with (src/api/driver-support.ts) and the host's view of them. */
export interface DeviceValues {
  /** Every bus the driver takes, one disk each; empty: disks have no bus here (say why in whyNoDisks). */
  diskBuses: DiskBus[];
  whyNoDisks?: string;
  bootOrder: boolean;
  /** Every NIC model the driver takes, one NIC each. */
  nicModels: NicModel[];
  /** The network those NICs join (name is replaced). */
  network: Omit<NetworkSpec, "name">;
  /** First three bytes of the fixed MACs, e.g. "52:54:00" (hypervisors limit manual MACs to their range). */
  macPrefix: string;
  /** What the host calls a bus / a model (virtio-blk is "virtio" in libvirt, vmxnet3 "VirtualVmxnet3" in vim25). */
  hostBus: (bus: DiskBus) => string;
  hostModel: (model: NicModel) => string | undefined;
  /** The VM's disks (spec order) and NICs as the host shows them, outside the driver. */
  seen(identity: VmIdentity): Promise<{ disks: { bus: string; bootOrder?: number | undefined }[]; nics: { model?: string | undefined; mac?: string | undefined }[] }>;
}
