// The ESXi Session: the driver contract over one vim25 connection to a standalone host.
import {
  InvalidTransitionError,
  NotFoundError,
  RetryableError,
  TerminalError,
  UnsupportedError,
  type Capabilities,
  type HostObservation,
  type MigrationProgress,
  type MigrationResult,
  type PowerTarget,
  type Session,
  type VmEvent,
  type VmIdentity,
  type VmObservation,
  type VmUsageSample,
  type VmSpec,
} from "../contract/index.ts";
import { canAdopt } from "../contract/index.ts";
import { toDriverError } from "./errors.ts";
import { copyImageDisks, diskFolder, removeCopiedDisks } from "./images.ts";
import { readDatastores, readInventory, type Inventory } from "./inventory.ts";
import { VmLookups } from "./lookups.ts";
import { readHost, readVm, readVms, type EsxPowerState } from "./observe.ts";
import { defaultSoftDeadlineSeconds, nextPowerStep, type SoftStop } from "./power.ts";
import { waitTask, type PendingTask } from "./tasks.ts";
import { bootOrderSpec, createSpec, esxMemoryMiB, resizeSpec } from "./vm-config.ts";
import { directoryOf, modifiedAt, removeDirectory, vmxModified, vmxPath } from "./vm-files.ts";
import { openWatch } from "./watch.ts";
import { EsxiVmUsage } from "./vm-usage.ts";
import type { VimClient } from "./vim25/client.ts";
import { moRef, type MoRef } from "./vim25/encode.ts";
import { VimFault } from "./vim25/faults.ts";
import { resultRef, startTask } from "./vim25/tasks.ts";
import { child, childrenNamed, numberAt, xsiType } from "./vim25/xml.ts";
import { retrieve } from "./vim25/property-collector.ts";

export interface SessionOptions {
  /** How long a call waits for its vim25 task before leaving it to finish on its own. */
  taskWaitMs?: number;
}

/** A .vmx file no VM uses is a leftover of a create that died inside the host once it is this old (a live create registers its VM within seconds). */
const leftoverAfterMs = 120_000;

const esxPower: Record<string, EsxPowerState | undefined> = { Running: "poweredOn", Stopped: "poweredOff", Paused: "suspended" };

export class EsxiSession implements Session {
  readonly #client: VimClient;
  readonly #inventory: Inventory;
  readonly #taskWaitMs: number;
  /** Creates in flight, by uid; VM tasks in flight, by externalId. */
  readonly #creating = new Map<string, PendingTask & { vmx: string }>();
  readonly #tasks = new Map<string, PendingTask>();
  readonly #softStops = new Map<string, SoftStop>();
  readonly #createAttempts = new Map<string, Promise<VmObservation>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #copies = new Map<string, MoRef>();
  readonly #closing = new AbortController();
  /** Lookups by uid through an index the PropertyCollector keeps current (one VM read per lookup). */
  readonly #lookups: VmLookups;
  readonly #vmUsage = new EsxiVmUsage();
  #closed = false;

  private constructor(client: VimClient, inventory: Inventory, options: SessionOptions) {
    this.#client = client;
    this.#inventory = inventory;
    this.#lookups = new VmLookups(client, inventory.datacenter);
    this.#taskWaitMs = options.taskWaitMs ?? 15_000;
  }

  /** Reads the inventory of a logged-in client. */
  static async open(client: VimClient, options: SessionOptions = {}, signal?: AbortSignal): Promise<EsxiSession> {
    return new EsxiSession(client, await readInventory(client, signal), options);
  }

  #readVms(): Promise<VmObservation[]> {
    return readVms(this.#client, this.#inventory.datacenter);
  }

  capabilities(): Capabilities {
    // pause = ESX suspend (memory to disk). Clone is NotSupported by a standalone host (clone by
    // disk copy comes later); live migration needs vCenter; snapshots are not implemented yet.
    return { pause: true, softPowerOff: true, liveMigration: false, snapshots: false, clone: false, liveResize: false };
  }

  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new RetryableError(`${what}: session is closed`, { reason: "session-closed" });
    try {
      return await fn();
    } catch (err) {
      throw toDriverError(err, what);
    }
  }

  observeHost(): Promise<HostObservation> {
    return this.#guard("observe ESXi host", async () => readHost(this.#client, this.#inventory, await this.#readVms()));
  }

  /** One PropertyCollector read of every VM's quickStats (the host's own recent rates). */
  observeVmUsage(): Promise<VmUsageSample[]> {
    return this.#guard("read VM quickStats", () => this.#vmUsage.observe(this.#client, this.#inventory));
  }

  listVms(): Promise<VmObservation[]> {
    return this.#guard("list ESXi VMs", () => this.#readVms());
  }

  observeVm(identity: VmIdentity): Promise<VmObservation | undefined> {
    return this.#guard(`observe VM ${identity.name}`, () => this.#find(identity));
  }

  async #find(identity: VmIdentity): Promise<VmObservation | undefined> {
    const byUid = await this.#lookups.find(identity.uid);
    if (byUid || identity.externalId === undefined) return byUid;
    // Adoption: the VM the user named by its moref, as long as it is not another VM's.
    const vm = await readVm(this.#client, moRef("VirtualMachine", identity.externalId));
    return vm && canAdopt(identity, vm.identity?.uid) ? vm : undefined;
  }

  /** Whether the VM folder has an entity named name (SearchIndex.FindChild; a listing where there is no SearchIndex). */
  async #nameTaken(name: string): Promise<boolean> {
    const searchIndex = this.#client.content.searchIndex;
    if (!searchIndex) return (await this.#readVms()).some((v) => v.name === name);
    const res = await this.#client.invoke("FindChild", searchIndex, { entity: this.#inventory.vmFolder, name });
    return child(res, "returnval") !== undefined;
  }

  async #mustFind(identity: VmIdentity): Promise<VmObservation> {
    const vm = await this.#find(identity);
    if (!vm) throw new NotFoundError(`VM ${identity.name} (uid ${identity.uid}) does not exist on this host`, { reason: "vm-missing" });
    return vm;
  }

  createVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    // Concurrent creates of one uid share one attempt; the VM's extraConfig covers everything else.
    let attempt = this.#createAttempts.get(identity.uid);
    if (!attempt) {
      attempt = this.#guard(`create VM ${identity.name}`, () => this.#create(identity, spec)).finally(() => this.#createAttempts.delete(identity.uid));
      this.#createAttempts.set(identity.uid, attempt);
    }
    return attempt;
  }

  async #create(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const mine = await this.#lookups.find(identity.uid);
    if (mine) return mine;
    if (!this.#creating.has(identity.uid) && (await this.#nameTaken(identity.name))) {
      // another writer (a second manager) may have made it since the lookup: the uid decides
      const theirs = await this.#lookups.find(identity.uid);
      if (theirs) return theirs;
      throw new TerminalError(`VM name ${identity.name} is taken by another VM`, { reason: "name-taken" });
    }
    let pending = this.#creating.get(identity.uid);
    if (!pending) {
      const datastore = await this.#pickDatastore(identity);
      const copies = await copyImageDisks(this.#client, identity, spec, { datacenter: this.#inventory.datacenter, datastore, waitMs: this.#taskWaitMs, running: this.#copies });
      const config = createSpec(identity, spec, { datastore, networks: this.#inventory.networks, copies });
      const task = await startTask(this.#client, "CreateVM_Task", this.#inventory.vmFolder, { config, pool: this.#inventory.resourcePool, host: this.#inventory.host });
      pending = { task, method: "CreateVM_Task", vmx: vmxPath(datastore, identity.name) };
      this.#creating.set(identity.uid, pending);
    }
    const info = await waitTask(this.#client, pending.task, pending.method, this.#taskWaitMs);
    if (info.state !== "success" && info.state !== "error") throw new RetryableError(`VM ${identity.name} is still being created`, { reason: "in-progress" });
    this.#creating.delete(identity.uid);
    if (info.error?.fault === "FileAlreadyExists") return this.#afterTakenFiles(identity, spec, pending.vmx);
    if (info.error) throw info.error;
    const created = resultRef(info);
    if (created) this.#lookups.created(created.value, identity.uid);
    const withId = { ...identity, externalId: created?.value ?? identity.externalId };
    if (created) await this.#setBootOrder(created.value, spec);
    if (spec.power && spec.power.state !== "Stopped") await this.#setPower(withId, spec.power);
    return this.#mustFind(withId);
  }

  /** The disks' boot order, set once ESX has given the new VM's devices their keys. */
  async #setBootOrder(externalId: string, spec: VmSpec): Promise<void> {
    if (!spec.disks.some((d) => d.bootOrder !== undefined)) return;
    const [vm] = await retrieve(this.#client, "VirtualMachine", ["config.hardware.device"], { objects: [moRef("VirtualMachine", externalId)] });
    const devices = childrenNamed(vm?.props.get("config.hardware.device"), "VirtualDevice").map((d) => ({
      type: xsiType(d) ?? "",
      key: numberAt(d, "key") ?? 0,
      ...optionalNumber("controllerKey", numberAt(d, "controllerKey")),
      ...optionalNumber("unitNumber", numberAt(d, "unitNumber")),
      ...optionalNumber("busNumber", numberAt(d, "busNumber")),
    }));
    const bootOptions = bootOrderSpec(spec, devices);
    if (bootOptions) await this.#runTask(externalId, "ReconfigVM_Task", { spec: { bootOptions } });
  }

  /**
   * The VM's .vmx file was there already: another writer's create of this VM (a second manager)
   * got there first — then the VM carries the uid and is this create's result — or a create that
   * died inside the host left it. A file older than leftoverAfterMs that no VM with the uid uses
   * is removed and the create retried; a younger one may be a create still under way elsewhere.
   */
  async #afterTakenFiles(identity: VmIdentity, spec: VmSpec, vmx: string): Promise<VmObservation> {
    const theirs = await this.#lookups.find(identity.uid);
    if (theirs) {
      if (spec.power && spec.power.state !== "Stopped") await this.#setPower(identity, spec.power);
      return this.#mustFind(identity);
    }
    if (await this.#nameTaken(identity.name)) throw new TerminalError(`VM name ${identity.name} is taken by another VM`, { reason: "name-taken" });
    const modified = await vmxModified(this.#client, this.#inventory.datastores, vmx, this.#taskWaitMs);
    const ageMs = modified ? Date.now() - modified.getTime() : 0;
    if (ageMs > leftoverAfterMs) {
      await removeDirectory(this.#client, this.#inventory.datacenter, directoryOf(vmx), this.#taskWaitMs);
      throw new RetryableError(`VM ${identity.name}: removed ${directoryOf(vmx)}, left by a create that did not finish (${Math.round(ageMs / 1000)} s old, no VM uses it); creating again`, { reason: "leftover-removed" });
    }
    throw new RetryableError(`VM ${identity.name}: ${vmx} is being written by another create; waiting for that VM to appear`, { reason: "in-progress" });
  }

  /** Where the VM's files go: where its disk copies already are (a create retried, or a second writer's), else the roomiest datastore. */
  async #pickDatastore(identity: VmIdentity): Promise<string> {
    const stores = await readDatastores(this.#client, this.#inventory.datastores);
    if (stores.length > 1) {
      // two writers must choose alike, though the first one's copies change which is roomiest
      for (const ds of stores) {
        const copies = { store: ds.name, directory: `[${ds.name}] ${diskFolder}`, name: identity.uid };
        if (await modifiedAt(this.#client, this.#inventory.datastores, copies, this.#taskWaitMs)) return ds.name;
      }
    }
    const roomiest = stores.sort((a, b) => b.freeBytes - a.freeBytes)[0];
    if (!roomiest) throw new TerminalError("the host has no datastore for VM files", { reason: "no-datastore" });
    return roomiest.name;
  }

  updateVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    return this.#guard(`update VM ${identity.name}`, async () => {
      const vm = await this.#mustFind(identity);
      if (vm.cpus === spec.cpus && vm.memoryMiB === esxMemoryMiB(spec.memoryMiB)) return vm;
      if (vm.power !== "Stopped") {
        throw new InvalidTransitionError(`VM ${identity.name} must be stopped to change CPUs or memory (no live resize)`, { reason: "requires-stopped" });
      }
      await this.#runTask(vm.externalId, "ReconfigVM_Task", { spec: resizeSpec(spec) });
      return this.#mustFind(identity);
    });
  }

  /** Starts a VM task (unless the same one is still running) and waits for it up to the bound. */
  async #runTask(externalId: string, method: string, args: Parameters<typeof startTask>[3]): Promise<void> {
    const running = this.#tasks.get(externalId);
    if (running) {
      const info = await waitTask(this.#client, running.task, running.method, 0);
      if (info.state === "queued" || info.state === "running") {
        if (running.method === method) return;
        throw new RetryableError(`${running.method} is still running on this VM`, { reason: "task-in-progress" });
      }
      this.#tasks.delete(externalId);
    }
    const task = await startTask(this.#client, method, moRef("VirtualMachine", externalId), args);
    const info = await waitTask(this.#client, task, method, this.#taskWaitMs);
    if (info.error) throw info.error;
    if (info.state !== "success") this.#tasks.set(externalId, { task, method });
  }

  setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    return this.#guard(`set power of VM ${identity.name} to ${target.state}`, () => this.#setPower(identity, target));
  }

  async #setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    const vm = await this.#mustFind(identity);
    const current = esxPower[vm.power];
    if (!current) throw new RetryableError(`VM ${identity.name} is in power state ${vm.power}`, { reason: "power-unknown" });
    if (current !== "poweredOn" || target.state !== "Stopped") this.#softStops.delete(vm.externalId);
    const step = nextPowerStep(current, target, this.#softStops.get(vm.externalId), Date.now());
    if (step.kind === "none") return;
    if (step.kind === "invalid") throw new InvalidTransitionError(`VM ${identity.name}: ${step.why}`, { reason: "invalid-power-transition" });
    if (step.method !== "ShutdownGuest") return this.#runTask(vm.externalId, step.method, {});
    try {
      await this.#client.invoke("ShutdownGuest", moRef("VirtualMachine", vm.externalId), {});
      const deadlineMs = (target.deadlineSeconds ?? defaultSoftDeadlineSeconds) * 1000;
      this.#softStops.set(vm.externalId, { deadlineAt: Date.now() + deadlineMs });
      if ((target.mode ?? "TrySoft") === "TrySoft") this.#escalateAfter(deadlineMs + 50, { ...identity, externalId: vm.externalId }, target);
    } catch (err) {
      // No VMware Tools in the guest: TrySoft goes straight to the hard step it would reach anyway.
      if (!(err instanceof VimFault && err.fault === "ToolsUnavailable" && (target.mode ?? "TrySoft") === "TrySoft")) throw err;
      await this.#runTask(vm.externalId, "PowerOffVM_Task", {});
    }
  }

  /**
   * TrySoft's hard half, without waiting for another call: at the deadline, a guest still
   * running is powered off. A later setPower call does the same if this session is gone.
   */
  #escalateAfter(ms: number, identity: VmIdentity, target: PowerTarget): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed || !identity.externalId || !this.#softStops.has(identity.externalId)) return;
      this.#setPower(identity, target).catch(() => {
        /* the controller's next setPower retries and reports */
      });
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  deleteVm(identity: VmIdentity): Promise<void> {
    return this.#guard(`delete VM ${identity.name}`, async () => {
      const vm = await this.#find(identity);
      if (!vm) return;
      try {
        if (vm.power !== "Stopped") {
          // another writer (a second manager) may have powered it off a moment ago
          await this.#runTask(vm.externalId, "PowerOffVM_Task", {}).catch((err: unknown) => {
            if (!(err instanceof VimFault && err.fault === "InvalidPowerState")) throw err;
          });
        }
        this.#tasks.delete(vm.externalId);
        await this.#runTask(vm.externalId, "Destroy_Task", {});
      } catch (err) {
        if (!(err instanceof VimFault && err.fault === "ManagedObjectNotFound")) throw err;
        this.#lookups.deleted(vm.externalId);
        return; // gone meanwhile
      }
      this.#lookups.deleted(vm.externalId);
      this.#softStops.delete(vm.externalId);
      if (vm.identity) await this.#removeCopies(vm.identity);
    });
  }

  /** Destroy_Task took the copied disks with the VM; their folder stays unless removed. */
  async #removeCopies(identity: VmIdentity): Promise<void> {
    for (const ds of await readDatastores(this.#client, this.#inventory.datastores)) {
      await removeCopiedDisks(this.#client, this.#inventory.datacenter, identity, ds.name).catch(() => undefined);
    }
  }

  /** vMotion is a vCenter operation: a standalone host has no API to send a VM to another host. */
  migrateVm(identity: VmIdentity): Promise<MigrationResult> {
    return Promise.reject(
      new UnsupportedError(`migrate VM ${identity.name}: a standalone ESXi host cannot migrate VMs — vMotion needs vCenter, which this driver does not talk to`, { reason: "no-live-migration" }),
    );
  }

  /** Nothing migrates from a standalone host (see migrateVm). */
  migrationProgress(): Promise<MigrationProgress | undefined> {
    return Promise.resolve(undefined);
  }

  cancelMigration(): Promise<void> {
    return Promise.resolve();
  }

  watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
    return this.#guard("watch ESXi VMs", () => openWatch(this.#client, this.#inventory.datacenter, AbortSignal.any([signal, this.#closing.signal])));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    await this.#lookups.close();
    await this.#client.close();
  }
}

function optionalNumber<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
