// What a driver's test file hands the conformance suite: how to reach a host through the driver,
// a small VM spec that runs there, and hooks that act on the host *outside* the driver (the
// hypervisor's own CLI), so the suite can check the driver sees what others do.
import type { Credentials, Driver, HostConnection, PowerState, Session, VmIdentity, VmSpec } from "../contract/index.ts";

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
  /** Removes every VM whose name starts with `prefix` (the afterAll safety net). */
  cleanup(prefix: string): Promise<void>;
}
