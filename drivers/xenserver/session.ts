// One session with a XenServer / XCP-ng pool, implementing the contract's Session over XAPI for
// one host of it: XAPI shows the whole pool, but the session reports and acts on the VMs of the
// host its endpoint names only (./residency.ts, ADR 0021), starts VMs there (VM.start_on) and
// keeps their affinity pointing there, so a VM that moved is found on its new Host and no longer
// on its old one.
// Create follows `xe vm-install`: VM.clone of a template, then VM.provision (which un-templates
// it). The identity is written into other_config right after the clone, so a crash half-way
// leaves a VM the next createVm finds and finishes instead of cloning again.
import {
  type Capabilities,
  type HostConnection,
  type HostObservation,
  identityKeys,
  identityMetadata,
  InvalidTransitionError,
  isDriverError,
  MigrationCancelledError,
  type MigrationProgress,
  type MigrationResult,
  type MigrationTarget,
  NotFoundError,
  type PowerState,
  type PowerTarget,
  RetryableError,
  type Session,
  TerminalError,
  UnsupportedError,
  type VmEvent,
  type VmIdentity,
  type VmObservation,
  type VmUsageSample,
  type VmSpec,
} from "../contract/index.ts";
import { canAdopt } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";
import { addNics, describeDisks, findTemplate, resize, setCloudInit } from "./install.ts";
import { hostObservation, type HostCpuRecord, type HostMetricsRecord, type HostRecord } from "./host.ts";
import { type GuestNetworks, isGuest, migrationTask, nullRef, observation, powerOf, type TaskRecord, type VmRecord, type VmRecords } from "./records.ts";
import { translateXapiError } from "./errors.ts";
import { CreateClaims } from "./create-claim.ts";
import { notFoundAsUndefined, VmLookups } from "./lookups.ts";
import { holderOf, hostNamed, PoolView } from "./residency.ts";
import { VmEventFeed } from "./watch.ts";
import { vmUsage, type VmMetricsRecord } from "./vm-usage.ts";

const defaultDeadlineSeconds = 30;
const MiB = 1024 ** 2;
/** How often a migration's task is read while migrateVm and cancelMigration wait for it. */
const taskPollMs = 200;
/** How long cancelMigration waits for a cancelled task to end. */
const cancelWaitMs = 15_000;

export class XenServerSession implements Session {
  private readonly client: XapiClient;
  /** The pool's hosts and master, and which of them this session stands for. */
  private readonly pool: PoolView;
  private readonly closed = new AbortController();
  /** Creates in flight by VM name: a second create of the same name waits for the first. */
  private readonly creating = new Map<string, Promise<VmObservation>>();
  /** TrySoft escalations waiting for their deadline. */
  private readonly escalations = new Set<NodeJS.Timeout>();
  /** Lookups by uid through an index the event feed keeps current (one VM read per lookup). */
  private readonly lookups: VmLookups;
  /** One maker per VM across managers (create-claim.ts). */
  private readonly claims: CreateClaims;

  private constructor(client: XapiClient, pool: PoolView) {
    this.client = client;
    this.pool = pool;
    this.lookups = new VmLookups(client);
    this.claims = new CreateClaims(client);
  }

  /** A session for the pool host the endpoint names (TerminalError when it names none of them). */
  static async open(client: XapiClient, host: HostConnection): Promise<XenServerSession> {
    return new XenServerSession(client, await PoolView.open(client, new URL(host.endpoint).hostname));
  }

  capabilities(): Capabilities {
    // Live migration within the pool (VM.pool_migrate); across pools is not offered.
    return { pause: true, softPowerOff: true, liveMigration: true, snapshots: false, clone: false, liveResize: false };
  }

  async observeHost(): Promise<HostObservation> {
    const ref = this.pool.self;
    const host = await this.client.call<HostRecord>("read host", "host.get_record", ref);
    const [metrics, cpus, vms] = await Promise.all([
      this.client.call<HostMetricsRecord>("read host metrics", "host_metrics.get_record", host.metrics),
      this.client.call<Record<string, HostCpuRecord>>("read host CPUs", "host_cpu.get_all_records"),
      this.listVms(),
    ]);
    return hostObservation(ref, host, metrics, Object.values(cpus), vms);
  }

  /** The guests on this host of the pool (residency.ts), not the whole pool's. */
  async listVms(): Promise<VmObservation[]> {
    const [records, metrics, pool] = await Promise.all([
      this.records(),
      this.client.call<Record<string, { networks: GuestNetworks }>>("read guest metrics", "VM_guest_metrics.get_all_records"),
      this.pool.hosts(),
    ]);
    return Object.values(records)
      .filter((vm) => isGuest(vm) && holderOf(vm, pool) === this.pool.self)
      .map((vm) => observation(vm, metrics[vm.guest_metrics ?? nullRef]?.networks));
  }

  /** Every managed guest on this host with its VM_metrics: VM.get_all_records and VM_metrics.get_all_records. */
  async observeVmUsage(): Promise<VmUsageSample[]> {
    const [records, metrics, pool] = await Promise.all([
      this.records(),
      this.client.call<Record<string, VmMetricsRecord>>("read VM metrics", "VM_metrics.get_all_records"),
      this.pool.hosts(),
    ]);
    return vmUsage(Object.values(records), metrics, (vm) => holderOf(vm, pool) === this.pool.self);
  }

  async observeVm(identity: VmIdentity): Promise<VmObservation | undefined> {
    const found = await this.find(identity);
    return found === undefined || !isGuest(found[1]) ? undefined : this.observed(found[1]);
  }

  createVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const running = this.creating.get(identity.name);
    const next = (running ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .then(() => this.create(identity, spec))
      .finally(() => {
        if (this.creating.get(identity.name) === next) this.creating.delete(identity.name);
      });
    this.creating.set(identity.name, next);
    return next;
  }

  async updateVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const [ref, vm] = await this.require(identity);
    const same = Number(vm.VCPUs_at_startup) === Math.max(1, Math.ceil(spec.cpus)) && Number(vm.memory_static_max) === spec.memoryMiB * MiB;
    if (!same) {
      if (vm.power_state !== "Halted") {
        throw new InvalidTransitionError(`xenserver: ${identity.name} must be stopped to change CPUs or memory (it is ${vm.power_state})`, { reason: "needs-stopped" });
      }
      await resize(this.client, ref, vm, spec);
    }
    const after = await this.record(ref);
    if (after === undefined) throw new NotFoundError(`xenserver: ${identity.name} vanished during update`);
    return this.observed(after);
  }

  async setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    const [ref, vm] = await this.require(identity);
    try {
      await this.powerStep(ref, vm, target, identity.name);
    } catch (err) {
      // Someone else moved the VM meanwhile: reaching the target anyway is success.
      if (isDriverError(err) && err.kind === "invalid-transition" && (await this.powerNow(ref)) === target.state) return;
      throw err;
    }
  }

  async deleteVm(identity: VmIdentity): Promise<void> {
    const found = await this.find(identity);
    if (found === undefined) return;
    const [ref, vm] = found;
    try {
      if (vm.power_state !== "Halted") {
        // halted with an affinity elsewhere, it would leave this host (and its watcher) before it goes
        await this.keepHere(ref, vm, identity.name);
        await this.ignoreState(this.client.call("hard shutdown", "VM.hard_shutdown", ref));
      }
      const disks = await this.ownDisks(vm);
      await this.client.call(`destroy ${identity.name}`, "VM.destroy", ref);
      this.lookups.deleted(ref);
      for (const vdi of disks) await this.client.call("destroy disk", "VDI.destroy", vdi).catch(() => undefined);
    } catch (err) {
      if (isDriverError(err) && err.kind === "not-found") return;
      throw err;
    }
  }

  /**
   * VM.pool_migrate as a task, waited for here; XAPI reports no downtime. A move already running
   * (a retry after a crash) is joined rather than started again. The bandwidth limit is ignored:
   * pool_migrate takes none. The session sees the whole pool, so a VM already on the target is
   * success; on neither this host nor the target, not-found. A halted VM moves by its affinity;
   * a running one's affinity follows it, so that it stays on the target once stopped there.
   */
  async migrateVm(identity: VmIdentity, target: MigrationTarget): Promise<MigrationResult> {
    const targetHost = new URL(target.host.endpoint).hostname;
    const hosts = await this.client.call<Record<string, HostRecord>>("list hosts", "host.get_all_records");
    const destination = await hostNamed(hosts, targetHost);
    if (destination === undefined) {
      throw new UnsupportedError(`xenserver: ${targetHost} is not a host of this pool; migration across pools (VM.migrate_send) is not offered`, { reason: "cross-pool" });
    }
    const [hostRef] = destination;
    const found = await this.findInPool(identity);
    if (found === undefined || !isGuest(found[1])) throw new NotFoundError(`xenserver: no VM ${identity.name} (uid ${identity.uid})`);
    const [ref, vm] = found;
    const holder = holderOf(vm, await this.pool.hosts(vm.affinity));
    if (holder === hostRef) return {};
    if (holder !== this.pool.self) throw new NotFoundError(`xenserver: ${identity.name} is on neither this host nor ${targetHost} (it is on ${await this.hostName(holder)})`);
    if (vm.power_state === "Halted" || vm.power_state === "Suspended") {
      await this.client.call(`place ${identity.name}`, "VM.set_affinity", ref, hostRef);
      return {};
    }
    if (!target.live) throw new InvalidTransitionError(`xenserver: ${identity.name} is ${vm.power_state}; stop it for an offline move`, { reason: "needs-stopped" });
    const running = migrationTask(vm);
    const task = running ?? (await this.client.call<string>(`migrate ${identity.name}`, "Async.VM.pool_migrate", ref, hostRef, { live: "true" }));
    await this.finishTask(task, `migrate ${identity.name}`);
    if ((await this.record(ref))?.resident_on === hostRef) {
      await this.client.call(`place ${identity.name}`, "VM.set_affinity", ref, hostRef);
      return {};
    }
    // A joined move went elsewhere: this one is still to do.
    if (running !== undefined) return this.migrateVm(identity, target);
    throw new RetryableError(`xenserver: migrate ${identity.name}: the task ended, yet the VM is not on ${targetHost}`, { reason: "not-moved" });
  }

  /** The VM's migration task: XAPI reports how far it got (progress 0..1), not bytes. */
  async migrationProgress(identity: VmIdentity): Promise<MigrationProgress | undefined> {
    const found = await this.find(identity);
    const task = found === undefined ? undefined : migrationTask(found[1]);
    if (task === undefined) return undefined;
    const record = await this.task(task);
    if (record === undefined || (record.status !== "pending" && record.status !== "cancelling")) return undefined;
    return { percent: Math.min(100, Math.max(0, Math.floor(Number(record.progress) * 100))) };
  }

  /** task.cancel on the VM's migration task; returns once the task ended (the VM stays where it was). */
  async cancelMigration(identity: VmIdentity): Promise<void> {
    const found = await this.find(identity);
    const task = found === undefined ? undefined : migrationTask(found[1]);
    if (task === undefined) return;
    try {
      await this.client.call(`cancel the migration of ${identity.name}`, "task.cancel", task);
    } catch (err) {
      // Finished between the look and the cancel (OPERATION_NOT_ALLOWED), or gone.
      if (!(isDriverError(err) && (err.kind === "not-found" || err.reason === "operation-not-allowed"))) throw err;
    }
    const deadline = Date.now() + cancelWaitMs;
    let record = await this.task(task);
    while (record !== undefined && (record.status === "pending" || record.status === "cancelling") && Date.now() < deadline) {
      await sleep(taskPollMs);
      record = await this.task(task);
    }
    if (record?.status === "success") {
      throw new InvalidTransitionError(`xenserver: the migration of ${identity.name} finished before it could be cancelled`, { reason: "migration-finished" });
    }
  }

  async watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
    const feed = new VmEventFeed(this.client, this.pool);
    await feed.start();
    return feed.events(AbortSignal.any([signal, this.closed.signal]));
  }

  async close(): Promise<void> {
    this.closed.abort();
    for (const timer of this.escalations) clearTimeout(timer);
    this.escalations.clear();
    await this.client.close();
  }

  private async create(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    // Looked for in the whole pool: a second VM with this uid on another host would make every
    // lookup by uid ambiguous.
    const found = await this.findInPool(identity);
    if (found !== undefined && !found[1].is_a_template && !(await this.pool.holds(found[1]))) {
      const [, vm] = found;
      const holder = holderOf(vm, await this.pool.hosts(vm.affinity));
      throw new TerminalError(`xenserver: ${identity.name} (${vm.uuid}) already exists in the pool, ${vm.power_state.toLowerCase()} on host ${await this.hostName(holder)}; it is not made a second time on this host`, { reason: "elsewhere-in-pool" });
    }
    // Making or finishing the VM: one session at a time across managers (create-claim.ts).
    if (found !== undefined && !found[1].is_a_template) return this.observed(found[1]);
    const release = await this.claims.take(identity);
    try {
      return await this.make(identity, spec, await this.findInPool(identity));
    } finally {
      await release().catch(() => undefined); // a claim left behind is taken over once stale
    }
  }

  /** Clones and labels (when found is undefined), then finishes a half-made VM; under the create claim. */
  private async make(identity: VmIdentity, spec: VmSpec, before: [string, VmRecord] | undefined): Promise<VmObservation> {
    let found = before;
    if (found !== undefined && !found[1].is_a_template) return this.observed(found[1]); // the claimant before this one made it
    if (found === undefined) {
      const taken = await this.guestNamed(identity.name);
      if (taken !== undefined) throw new TerminalError(`xenserver: the name ${identity.name} is taken by another VM (${taken.uuid})`, { reason: "name-taken" });
      const ref = await this.client.call<string>(`clone ${identity.name}`, "VM.clone", await findTemplate(this.client, spec), identity.name);
      for (const [key, value] of Object.entries(identityMetadata(identity))) {
        await this.client.call(`label ${identity.name}`, "VM.add_to_other_config", ref, key, value);
      }
      this.lookups.created(ref, identity.uid);
      const record = await this.record(ref);
      if (record === undefined) throw new RetryableError(`xenserver: ${identity.name} vanished right after clone`, { reason: "race" });
      found = [ref, record];
    }
    const [ref, vm] = found;
    if (vm.is_a_template) {
      // Not yet provisioned (fresh, or left half-made by a crash — on this host or another: it never
      // ran, it is finished here): this host's VM from now on, then sized, given its disks and NICs,
      // and installed — provision un-templates it, so it comes last.
      if (vm.affinity !== this.pool.self) await this.client.call(`place ${identity.name}`, "VM.set_affinity", ref, this.pool.self);
      await resize(this.client, ref, vm, spec);
      await describeDisks(this.client, ref, vm, spec);
      await setCloudInit(this.client, ref, vm, spec, identity.uid);
      if ((vm.VIFs ?? []).length === 0) await addNics(this.client, ref, spec);
      await this.client.call(`provision ${identity.name}`, "VM.provision", ref);
      if (spec.power !== undefined && spec.power.state !== "Stopped") await this.setPower(identity, spec.power);
    }
    const after = await this.record(ref);
    if (after === undefined) throw new RetryableError(`xenserver: ${identity.name} vanished right after create`, { reason: "race" });
    return this.observed(after);
  }

  /** The observation of one VM, with the addresses its guest tools report. */
  private async observed(vm: VmRecord): Promise<VmObservation> {
    if (vm.guest_metrics === undefined || vm.guest_metrics === nullRef) return observation(vm);
    const metrics = await this.client.call<{ networks: GuestNetworks }>("read guest metrics", "VM_guest_metrics.get_record", vm.guest_metrics).catch(() => undefined);
    return observation(vm, metrics?.networks);
  }

  private async powerStep(ref: string, vm: VmRecord, target: PowerTarget, name: string): Promise<void> {
    const state = vm.power_state;
    const what = `${target.state} ${name}`;
    switch (target.state) {
      case "Running":
        if (state === "Running") return;
        if (state === "Paused") {
          await this.client.call(what, "VM.unpause", ref);
          return;
        }
        // On this host, not where VM.start's placement would put it (affinity is only its hint);
        // the affinity is set first, so the VM stays this host's once it stops again.
        await this.keepHere(ref, vm, name);
        if (state === "Suspended") await this.client.call(what, "VM.resume_on", ref, this.pool.self, false, false);
        else await this.client.call(what, "VM.start_on", ref, this.pool.self, false, false);
        return;
      case "Paused":
        if (state === "Paused") return;
        if (state !== "Running") throw new InvalidTransitionError(`xenserver: cannot pause ${name}: it is ${state}`, { reason: "state" });
        await this.client.call(what, "VM.pause", ref);
        return;
      case "Stopped":
        if (state === "Halted") return;
        // A halted VM is the host's its affinity names: one moved here by someone else would
        // otherwise leave this host as it stops.
        await this.keepHere(ref, vm, name);
        await this.stop(ref, state, target, what);
        return;
    }
  }

  private async stop(ref: string, state: string, target: PowerTarget, what: string): Promise<void> {
    const mode = target.mode ?? "TrySoft";
    // Only a running guest can be asked to shut down; paused or suspended ones are pulled.
    if (mode === "Hard" || state !== "Running") {
      await this.client.call(what, "VM.hard_shutdown", ref);
      return;
    }
    // Async: the guest takes its time, and nothing here may block on it.
    await this.client.call(what, "Async.VM.clean_shutdown", ref);
    if (mode === "Soft") return;
    const timer = setTimeout(() => {
      this.escalations.delete(timer);
      void this.client.call(what, "VM.hard_shutdown", ref).catch(() => undefined); // already halted, or gone
    }, (target.deadlineSeconds ?? defaultDeadlineSeconds) * 1000);
    timer.unref();
    this.escalations.add(timer);
  }

  private async powerNow(ref: string): Promise<PowerState | undefined> {
    const vm = await this.record(ref);
    const power = vm === undefined ? undefined : powerOf(vm.power_state);
    return power === "Running" || power === "Paused" || power === "Stopped" ? power : undefined;
  }

  /** The VM disks to destroy with the VM: VDIs behind its disk VBDs. */
  private async ownDisks(vm: VmRecord): Promise<string[]> {
    const vdis: string[] = [];
    for (const vbd of vm.VBDs ?? []) {
      const record = await this.client.call<{ type: string; VDI: string }>("read disk", "VBD.get_record", vbd).catch(() => undefined);
      if (record?.type === "Disk" && record.VDI !== nullRef) vdis.push(record.VDI);
    }
    return vdis;
  }

  private async ignoreState(call: Promise<unknown>): Promise<void> {
    try {
      await call;
    } catch (err) {
      if (!(isDriverError(err) && err.kind === "invalid-transition")) throw err;
    }
  }

  /** Points the VM's affinity at this host (the host a halted VM belongs to). */
  private async keepHere(ref: string, vm: VmRecord, name: string): Promise<void> {
    if (vm.affinity !== this.pool.self) await this.client.call(`place ${name}`, "VM.set_affinity", ref, this.pool.self);
  }

  /** A pool host's name for messages. */
  private async hostName(ref: string): Promise<string> {
    const host = await this.client.call<HostRecord>("read host", "host.get_record", ref).catch(() => undefined);
    return host === undefined ? ref : `${host.name_label} (${host.address})`;
  }

  /** Waits for a task to end and removes it; its failure or cancel is thrown as a contract error. */
  private async finishTask(task: string, what: string): Promise<void> {
    let record = await this.task(task);
    while (record !== undefined && (record.status === "pending" || record.status === "cancelling")) {
      await sleep(taskPollMs);
      record = await this.task(task);
    }
    await this.client.call("destroy task", "task.destroy", task).catch(() => undefined);
    if (record === undefined || record.status === "success") return; // (gone: destroyed by someone else; the VM's record tells)
    if (record.status === "cancelled") throw new MigrationCancelledError(`xenserver: ${what}: cancelled; it runs where it was`);
    const [code = "INTERNAL_ERROR", ...params] = record.error_info;
    throw translateXapiError({ code, params }, what);
  }

  private async task(ref: string): Promise<TaskRecord | undefined> {
    return this.client.call<TaskRecord>("read task", "task.get_record", ref).catch(notFoundAsUndefined);
  }

  private records(): Promise<VmRecords> {
    return this.client.call<VmRecords>("list VMs", "VM.get_all_records");
  }

  private async record(ref: string): Promise<VmRecord | undefined> {
    try {
      return await this.client.call<VmRecord>("read VM", "VM.get_record", ref);
    } catch (err) {
      if (isDriverError(err) && err.kind === "not-found") return undefined;
      throw err;
    }
  }

  /** The VM of findInPool when it is on this host (residency.ts); undefined when absent or elsewhere in the pool. */
  private async find(identity: VmIdentity): Promise<[string, VmRecord] | undefined> {
    const found = await this.findInPool(identity);
    return found !== undefined && (await this.pool.holds(found[1])) ? found : undefined;
  }

  /**
   * The VM carrying identity.uid (templates included: a half-made one) anywhere in the pool, else —
   * adoption — the VM with uuid externalId, as long as it carries no other uid. One lookup in the
   * index, one read.
   */
  private async findInPool(identity: VmIdentity): Promise<[string, VmRecord] | undefined> {
    const byUid = await this.lookups.find(identity.uid);
    if (byUid !== undefined || identity.externalId === undefined) return byUid;
    const ref = await this.client.call<string>("find VM by uuid", "VM.get_by_uuid", identity.externalId).catch(notFoundAsUndefined);
    const vm = ref === undefined ? undefined : await this.record(ref);
    if (ref === undefined || vm === undefined || !isGuest(vm)) return undefined;
    return canAdopt(identity, vm.other_config[identityKeys.uid]) ? [ref, vm] : undefined;
  }

  /** A guest VM named name (VM.get_by_name_label: one call, not a listing). */
  private async guestNamed(name: string): Promise<VmRecord | undefined> {
    for (const ref of await this.client.call<string[]>("find VM by name", "VM.get_by_name_label", name)) {
      const vm = await this.record(ref);
      if (vm !== undefined && isGuest(vm)) return vm;
    }
    return undefined;
  }

  private async require(identity: VmIdentity): Promise<[string, VmRecord]> {
    const found = await this.find(identity);
    if (found === undefined || !isGuest(found[1])) throw new NotFoundError(`xenserver: no VM ${identity.name} (uid ${identity.uid})`);
    return found;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
