// One session with a Hyper-V host, implementing the contract's Session by running Hyper-V
// PowerShell cmdlets over WinRM. Each call is one short script; a soft stop, which Stop-VM
// would wait out, is given a moment and then left running on the host.
import { randomBytes } from "node:crypto";
import {
  type Capabilities,
  InvalidTransitionError,
  isDriverError,
  MigrationCancelledError,
  type MigrationProgress,
  type MigrationResult,
  type MigrationTarget,
  NotFoundError,
  type PowerTarget,
  RetryableError,
  type Session,
  TerminalError,
  type VmEvent,
  type VmIdentity,
  type VmObservation,
  type VmUsageSample,
  type VmSpec,
  type HostObservation,
  type DiskSpec,
} from "../contract/index.ts";
import { canAdopt } from "../contract/index.ts";
import { noCloudSeed } from "../cloud-init/nocloud.ts";
import { type CpuJson, hostObservation, type OsJson, type VmHostJson } from "./host.ts";
import { type AdapterJson, addressesByVm, createdAtMs, isPending, jsonList, notesWithIdentity, observation, pendingMark, vmId, type VmJson } from "./records.ts";
import type { RemotePowerShell } from "./remote-powershell.ts";
import * as scripts from "./scripts.ts";
import { vmUsageFromOutput } from "./vm-usage.ts";
import { VmLookups } from "./lookups.ts";
import { ChangeFeed, poll, snapshot } from "./watch.ts";

const MiB = 1024 ** 2;
const defaultDeadlineSeconds = 30;
/** How long setPower waits for a guest shutdown before leaving Stop-VM running on the host. */
const softStopWaitMs = 2_000;
/** Hyper-V's default VirtualMachinePath, where a moved VM's files go on the target. */
const defaultVmPath = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V";
/** How often cancelMigration reads the job it terminated, and how long it waits for it to end. */
const jobPollMs = 200;
const cancelWaitMs = 15_000;

/** Msvm_MigrationJob, as listMigrationJobs prints it. JobState is CIM_ConcreteJob's. */
interface MigrationJobJson {
  InstanceID: string;
  JobState: number;
  PercentComplete: number;
  Cancellable: boolean;
  DestinationHost?: string;
  ErrorDescription?: string;
}
const JobState = { Completed: 7, Terminated: 8, Killed: 9 } as const;
/** New, Starting, Running, Suspended, Shutting Down: the job has not ended. */
const running = (job: MigrationJobJson): boolean => job.JobState >= 2 && job.JobState <= 6;

export interface HyperVSessionOptions {
  /** How often watch() polls Get-VM. */
  pollIntervalMs: number;
  /** Where new VHDXs go, and where image VHDXs are (Windows paths on the host). */
  diskDir: string;
  imageStore: string;
  /** The virtual switch a network that names none connects to; unset: the adapter stays unconnected. */
  defaultSwitch?: string;
}

/** A pending create older than this was left by a process that died: it is removed and made again. */
const staleCreateMs = 5 * 60_000;

export class HyperVSession implements Session {
  private readonly ps: RemotePowerShell;
  private readonly options: HyperVSessionOptions;
  private readonly onClose: () => void;
  private readonly closed = new AbortController();
  private readonly creating = new Map<string, Promise<VmObservation>>();
  /** This session's mark on the VMs it is making (records.ts PendingMark). */
  private readonly owner = randomBytes(6).toString("hex");
  private readonly escalations = new Set<NodeJS.Timeout>();
  /** The change detectors of the watches in progress, fed by every Get-VM listing. */
  private readonly feeds = new Set<ChangeFeed>();
  private listings = 0;
  /** Lookups by uid: an index fed by the listings, one Get-VM -Id per lookup. */
  private readonly lookups: VmLookups;

  constructor(ps: RemotePowerShell, options: HyperVSessionOptions, onClose: () => void) {
    this.ps = ps;
    this.options = options;
    this.onClose = onClose;
    const sawOne = {
      starting: () => {
        const seq = ++this.listings;
        return (id: string, vm: VmObservation | undefined) => {
          for (const feed of this.feeds) feed.observeOne(seq, id, vm);
        };
      },
    };
    this.lookups = new VmLookups(ps, { pollIntervalMs: options.pollIntervalMs, signal: this.closed.signal, listAll: () => this.listVms(), sawOne });
  }

  capabilities(): Capabilities {
    // Shared-nothing live migration: Move-VM with -IncludeStorage (see migrateVm).
    return { pause: true, softPowerOff: true, liveMigration: true, snapshots: false, clone: false, liveResize: false };
  }

  async observeHost(): Promise<HostObservation> {
    const [out, vms] = await Promise.all([this.ps.run("observe host", scripts.observeHost(), this.closed.signal), this.listVms()]);
    const [host, os, cpus] = out.split(/\r?\n/).filter((l) => l.trim() !== "");
    if (host === undefined || os === undefined) throw new RetryableError("hyperv: observe host: Get-VMHost printed nothing", { reason: "no-output" });
    return hostObservation(JSON.parse(host) as VmHostJson, JSON.parse(os) as OsJson, cpus === undefined ? [] : jsonList<CpuJson>(cpus), vms);
  }

  /** One script: the host's logical processors and every VM's CPUUsage and MemoryAssigned. */
  async observeVmUsage(): Promise<VmUsageSample[]> {
    return vmUsageFromOutput(await this.ps.run("read VM usage", scripts.vmUsage(), this.closed.signal));
  }

  async listVms(): Promise<VmObservation[]> {
    return (await this.listRaw()).map((vm) => vm.observed);
  }

  /** The VM carrying identity.uid, else — adoption — the VM with Id externalId, unless it carries another uid. */
  async observeVm(identity: VmIdentity): Promise<VmObservation | undefined> {
    const byUid = await this.lookups.find(identity.uid);
    if (byUid !== undefined || identity.externalId === undefined) return byUid;
    const adopted = await this.lookups.read(identity.externalId.toLowerCase());
    return adopted !== undefined && canAdopt(identity, adopted.identity?.uid) ? adopted : undefined;
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
    const vm = await this.require(identity);
    const cpus = Math.max(1, Math.ceil(spec.cpus));
    if (vm.cpus !== cpus || vm.memoryMiB !== spec.memoryMiB) {
      if (vm.power !== "Stopped") throw new InvalidTransitionError(`hyperv: ${identity.name} must be stopped to change CPUs or memory (it is ${vm.power})`, { reason: "needs-stopped" });
      await this.ps.run(`resize ${identity.name}`, scripts.resizeVm(vm.externalId, cpus, spec.memoryMiB * MiB), this.closed.signal);
    }
    const after = await this.observeVm({ ...identity, externalId: vm.externalId });
    if (after === undefined) throw new NotFoundError(`hyperv: ${identity.name} vanished during update`);
    return after;
  }

  async setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    const vm = await this.require(identity);
    const what = `${target.state} ${identity.name}`;
    try {
      await this.powerStep(vm, target, what);
    } catch (err) {
      // Someone else moved the VM meanwhile: reaching the target anyway is success.
      if (isDriverError(err) && err.kind === "invalid-transition" && (await this.observeVm(identity))?.power === target.state) return;
      throw err;
    }
  }

  async deleteVm(identity: VmIdentity): Promise<void> {
    const vm = await this.observeVm(identity);
    // Remove-VM keeps the VHDXs; the ones this driver made go with the VM.
    if (vm !== undefined) await this.remove(vm);
  }

  /**
   * Move-VM, shared-nothing, waited for (it returns once the VM runs on the target). Hyper-V
   * reports no downtime, and its bandwidth is a host setting: target.bandwidthMiBps is ignored.
   */
  async migrateVm(identity: VmIdentity, target: MigrationTarget): Promise<MigrationResult> {
    const vm = await this.require(identity);
    if (vm.power !== "Stopped" && !target.live) throw new InvalidTransitionError(`hyperv: ${identity.name} is ${vm.power}; stop it for an offline move`, { reason: "needs-stopped" });
    const already = (await this.migrationJobs(vm.externalId)).find(running);
    if (already !== undefined) {
      throw new RetryableError(`hyperv: a migration of ${identity.name} is already running (${already.PercentComplete} %): wait for it, or cancel it`, { reason: "migration-in-progress" });
    }
    const destination = new URL(target.host.endpoint).hostname;
    const storage = `${defaultVmPath}\\${fileSafe(identity.name)}`;
    try {
      await this.ps.run(`move ${identity.name} to ${destination}`, scripts.moveVm(vm.externalId, destination, storage), this.closed.signal);
    } catch (err) {
      // Cancelled (Msvm_MigrationJob terminated, by cancelMigration or in Hyper-V Manager) — the job says so, whatever the words.
      const jobs = await this.migrationJobs(vm.externalId).catch(() => []);
      const last = jobs[jobs.length - 1];
      if (last !== undefined && (last.JobState === JobState.Terminated || last.JobState === JobState.Killed)) {
        throw new MigrationCancelledError(`hyperv: move ${identity.name} to ${destination}: cancelled; it runs here as before`, { cause: err });
      }
      throw err;
    }
    return {};
  }

  /** The VM's running Msvm_MigrationJob: PercentComplete only (Hyper-V reports no bytes). */
  async migrationProgress(identity: VmIdentity): Promise<MigrationProgress | undefined> {
    const vm = await this.observeVm(identity);
    const job = vm === undefined ? undefined : (await this.migrationJobs(vm.externalId)).find(running);
    return job === undefined ? undefined : { percent: Math.min(100, Math.max(0, Math.floor(job.PercentComplete))) };
  }

  /** RequestStateChange(Terminate) on the running job; returns once it ended. */
  async cancelMigration(identity: VmIdentity): Promise<void> {
    const vm = await this.observeVm(identity);
    const job = vm === undefined ? undefined : (await this.migrationJobs(vm.externalId)).find(running);
    if (vm === undefined || job === undefined) return;
    // A return value other than 0 (32775: not in a state to change) means it ended meanwhile.
    await this.ps.run(`cancel the migration of ${identity.name}`, scripts.cancelMigrationJob(job.InstanceID), this.closed.signal);
    const deadline = Date.now() + cancelWaitMs;
    let now: MigrationJobJson | undefined = job;
    while (now !== undefined && running(now) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, jobPollMs));
      now = (await this.migrationJobs(vm.externalId)).find((j) => j.InstanceID === job.InstanceID);
    }
    if (now?.JobState === JobState.Completed) {
      throw new InvalidTransitionError(`hyperv: the migration of ${identity.name} finished before it could be cancelled`, { reason: "migration-finished" });
    }
  }

  async watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
    const seq = this.listings + 1;
    const feed = new ChangeFeed(snapshot(await this.listVms()), seq);
    this.feeds.add(feed);
    const both = AbortSignal.any([signal, this.closed.signal]);
    void poll(() => this.listVms(), feed, this.options.pollIntervalMs, both).finally(() => this.feeds.delete(feed));
    return feed.events();
  }

  close(): Promise<void> {
    if (!this.closed.signal.aborted) {
      this.closed.abort();
      for (const timer of this.escalations) clearTimeout(timer);
      this.escalations.clear();
      this.onClose();
    }
    return Promise.resolve();
  }

  private async migrationJobs(id: string): Promise<MigrationJobJson[]> {
    return jsonList<MigrationJobJson>(await this.ps.run("list migration jobs", scripts.listMigrationJobs(id), this.closed.signal));
  }

  /** Get-VM as JSON; every listing also feeds the watches' change detectors. */
  private async listRaw(): Promise<(VmJson & { observed: VmObservation })[]> {
    const seq = ++this.listings;
    const [vmLine, adapterLine] = (await this.ps.run("list VMs", scripts.listVms(), this.closed.signal)).split(/\r?\n/).filter((l) => l.trim() !== "");
    const addresses = addressesByVm(jsonList<AdapterJson>(adapterLine ?? ""));
    const raw = jsonList<VmJson>(vmLine ?? "").map((vm) => ({ ...vm, observed: observation(vm, addresses.get(vmId(vm))) }));
    for (const feed of this.feeds) feed.observe(seq, raw.map((vm) => vm.observed));
    this.lookups.listed(raw.map((vm) => vm.observed));
    return raw;
  }

  private async create(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const raw = await this.listRaw();
    const mine = raw.filter((vm) => vm.observed.identity?.uid === identity.uid);
    // Made already — by an earlier attempt, or by another manager at the same time: the one every
    // creator keeps, powered as asked (its maker may have stopped before it powered it on).
    if (mine.some((vm) => !isPending(vm))) return this.keptAndPowered(identity, spec);
    for (const half of mine) {
      // Being made by another manager (its create overlaps this one): not touched, tried again later.
      const mark = pendingMark(half)!;
      if (mark.owner !== this.owner && Date.now() - mark.sinceMs < staleCreateMs) {
        throw new RetryableError(`hyperv: another manager is creating ${identity.name} (${half.observed.externalId}, for ${Math.round((Date.now() - mark.sinceMs) / 1000)} s); it is not made twice`, { reason: "create-in-progress" });
      }
      // Half-made by an earlier attempt (this session's, or one that died): removed with its disks, made again.
      await this.remove(half.observed);
    }
    const vms = raw.map((vm) => vm.observed).filter((vm) => vm.identity?.uid !== identity.uid);
    const taken = vms.find((vm) => vm.name === identity.name);
    if (taken !== undefined) throw new TerminalError(`hyperv: the name ${identity.name} is taken by another VM (${taken.externalId})`, { reason: "name-taken" });
    refuseDevices(spec);
    const request: scripts.NewVm = {
      name: identity.name,
      cpus: Math.max(1, Math.ceil(spec.cpus)),
      memoryBytes: spec.memoryMiB * MiB,
      pendingNotes: notesWithIdentity(identity, { owner: this.owner, sinceMs: Date.now() }),
      switches: (spec.networks ?? [{ name: "default" }]).map((n) => n.network ?? n.bridge ?? this.options.defaultSwitch),
      notes: notesWithIdentity(identity),
      disks: spec.disks.map((disk) => this.disk(identity, disk)),
    };
    const macs = (spec.networks ?? []).map((n) => n.macAddress?.replace(/:/g, "").toUpperCase());
    if (macs.some((m) => m !== undefined)) request.macs = macs;
    const order = spec.disks
      .map((d, i) => ({ order: d.bootOrder, i }))
      .filter((d): d is { order: number; i: number } => d.order !== undefined)
      .sort((a, b) => a.order - b.order)
      .map((d) => d.i);
    if (order.length > 0) request.bootOrder = order;
    if (spec.cloudInit !== undefined) {
      request.seedPath = `${this.options.diskDir}\\${diskPrefix(identity)}cidata.iso`;
      await this.writeFile(`write the cloud-init seed of ${identity.name}`, request.seedPath, noCloudSeed(spec.cloudInit, identity.uid, identity.kubeName ?? identity.name));
    }
    try {
      const printed = await this.ps.run(`create ${identity.name}`, scripts.createVm(request), this.closed.signal);
      const id = createdId(printed);
      // No Id printed (an older host's output): one listing finds it instead.
      if (id === undefined) await this.listRaw();
      else this.lookups.created(id, identity.uid);
    } catch (err) {
      // This attempt's pending half, if New-VM got that far (a listing finds it: no Id was printed),
      // and only it: another manager's VM of the same uid (whose disk file made New-VHD fail) stays.
      const after = await this.listRaw().catch(() => [] as Awaited<ReturnType<HyperVSession["listRaw"]>>);
      const ofUid = after.filter((vm) => vm.observed.identity?.uid === identity.uid);
      for (const half of ofUid.filter((vm) => pendingMark(vm)?.owner === this.owner)) await this.remove(half.observed).catch(() => undefined);
      const others = ofUid.filter((vm) => pendingMark(vm)?.owner !== this.owner);
      if (others.length > 0) throw new RetryableError(`hyperv: another manager made ${identity.name} meanwhile (${others[0]!.observed.externalId}); it is not made twice`, { reason: "create-in-progress", cause: err });
      // the seed was written before the VM existed: it goes too (already gone with the VM is fine)
      if (request.seedPath !== undefined) await this.ps.run(`remove the seed of ${identity.name}`, scripts.removeFiles([request.seedPath]), this.closed.signal).catch(() => undefined);
      throw err;
    }
    return this.keptAndPowered(identity, spec);
  }

  private async keptAndPowered(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const kept = await this.oneOfUid(identity);
    // by its Id: until another manager removes its own copy, the uid names two VMs
    const read = async (): Promise<VmObservation> => {
      const vm = await this.lookups.read(kept);
      if (vm === undefined) throw new RetryableError(`hyperv: ${identity.name} vanished right after create`, { reason: "race" });
      return vm;
    };
    if (spec.power !== undefined && spec.power.state !== "Stopped") {
      const vm = await read();
      try {
        await this.powerStep(vm, spec.power, `${spec.power.state} ${identity.name}`);
      } catch (err) {
        if (!(isDriverError(err) && err.kind === "invalid-transition" && (await read()).power === spec.power.state)) throw err;
      }
    }
    return read();
  }

  /**
   * Two managers whose creates overlapped can both make a VM of one uid (Hyper-V allows one name
   * twice). The one made first (CreationTime, then the lower Id) is kept by every creator, and the
   * others are removed before anyone powers them on: a creator whose copy is not the kept one
   * removes it and returns the kept one. While the first-made is still being finished by another
   * manager, nobody decides yet (retried), so no creator keeps a VM that a later look would drop.
   */
  private async oneOfUid(identity: VmIdentity): Promise<string> {
    const ofUid = (await this.listRaw()).filter((vm) => vm.observed.identity?.uid === identity.uid && !(isPending(vm) && this.stale(vm)));
    ofUid.sort((a, b) => (createdAtMs(a) ?? Infinity) - (createdAtMs(b) ?? Infinity) || a.observed.externalId.localeCompare(b.observed.externalId));
    const [kept] = ofUid;
    if (kept === undefined) throw new RetryableError(`hyperv: ${identity.name} vanished right after create`, { reason: "race" });
    if (isPending(kept)) {
      throw new RetryableError(`hyperv: another manager is finishing ${identity.name} (${kept.observed.externalId}, made first); it is not made twice`, { reason: "create-in-progress" });
    }
    for (const vm of ofUid.slice(1).filter((v) => !isPending(v))) await this.remove(vm.observed);
    return kept.observed.externalId;
  }

  /** A pending create older than staleCreateMs: left by a process that died. */
  private stale(vm: VmJson): boolean {
    const mark = pendingMark(vm);
    return mark !== undefined && Date.now() - mark.sinceMs >= staleCreateMs;
  }

  /** One VM, by its Id (not by uid: another VM may carry the same uid): turned off, removed, its disks too. */
  private async remove(vm: VmObservation): Promise<void> {
    try {
      if (vm.power !== "Stopped") await this.ps.run(`turn off ${vm.name}`, scripts.power(vm.externalId, "turn-off"), this.closed.signal);
      const disks = await this.ownDisks(vm);
      await this.ps.run(`remove ${vm.name}`, scripts.power(vm.externalId, "remove"), this.closed.signal);
      this.lookups.deleted(vm.externalId);
      if (disks.length > 0) await this.ps.run(`remove disks of ${vm.name}`, scripts.removeFiles(disks), this.closed.signal);
    } catch (err) {
      if (isDriverError(err) && err.kind === "not-found") return;
      throw err;
    }
  }

  /** A file on the host, written in chunks the command line can carry (scripts.writeFileChunk). */
  private async writeFile(what: string, path: string, bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; at += scripts.fileChunkBytes) {
      await this.ps.run(what, scripts.writeFileChunk(path, bytes.subarray(at, at + scripts.fileChunkBytes), at > 0), this.closed.signal);
    }
  }

  /** A disk of the VM: `<diskDir>\\<vm>-<uid>-<disk>.vhdx`, blank or on top of an image. */
  private disk(identity: VmIdentity, disk: DiskSpec): scripts.NewDisk {
    const created: scripts.NewDisk = { path: `${this.options.diskDir}\\${diskPrefix(identity)}${fileSafe(disk.name)}.vhdx` };
    if (disk.image !== undefined) created.parentPath = `${this.options.imageStore}\\${fileSafe(disk.image)}.vhdx`;
    else if (disk.sizeGiB !== undefined) created.sizeBytes = Math.ceil(disk.sizeGiB * 1024 ** 3);
    return created;
  }

  /** The VHDXs this driver created for the VM (named with its prefix, in diskDir). */
  private async ownDisks(vm: VmObservation): Promise<string[]> {
    const prefix = vm.identity === undefined ? undefined : `${this.options.diskDir}\\${diskPrefix(vm.identity)}`.toLowerCase();
    if (prefix === undefined) return [];
    const drives = jsonList<{ Path: string }>(await this.ps.run(`list disks of ${vm.name}`, scripts.listDisks(vm.externalId), this.closed.signal));
    const dvds = jsonList<{ Path: string | null }>(await this.ps.run(`list DVD drives of ${vm.name}`, scripts.listDvds(vm.externalId), this.closed.signal));
    return [...drives.map((d) => d.Path), ...dvds.flatMap((d) => (d.Path === null ? [] : [d.Path]))].filter((p) => p.toLowerCase().startsWith(prefix));
  }

  private async powerStep(vm: VmObservation, target: PowerTarget, what: string): Promise<void> {
    const id = vm.externalId;
    switch (target.state) {
      case "Running":
        if (vm.power === "Running") return;
        await this.ps.run(what, scripts.power(id, vm.power === "Paused" ? "resume" : "start"), this.closed.signal);
        return;
      case "Paused":
        if (vm.power === "Paused") return;
        if (vm.power !== "Running") throw new InvalidTransitionError(`hyperv: cannot pause ${vm.name}: it is ${vm.power}`, { reason: "state" });
        await this.ps.run(what, scripts.power(id, "suspend"), this.closed.signal);
        return;
      case "Stopped":
        if (vm.power === "Stopped") return;
        await this.stop(vm, target, what);
        return;
    }
  }

  private async stop(vm: VmObservation, target: PowerTarget, what: string): Promise<void> {
    const mode = target.mode ?? "TrySoft";
    // A paused guest cannot be asked to shut down: turn it off.
    if (mode === "Hard" || vm.power !== "Running") {
      await this.ps.run(what, scripts.power(vm.externalId, "turn-off"), this.closed.signal);
      return;
    }
    // Stop-VM waits for the guest; give it a moment, then let it finish on the host.
    const shuttingDown = this.ps.run(what, scripts.power(vm.externalId, "shut-down"), this.closed.signal).then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    const started = Date.now();
    const outcome = await Promise.race([shuttingDown, new Promise<"waiting">((resolve) => setTimeout(() => resolve("waiting"), softStopWaitMs).unref())]);
    if (outcome instanceof Error) throw outcome;
    if (mode === "Soft" || outcome === undefined) return;
    // The deadline counts from the shutdown request, not from the end of our short wait.
    const left = Math.max(0, (target.deadlineSeconds ?? defaultDeadlineSeconds) * 1000 - (Date.now() - started));
    const timer = setTimeout(() => {
      this.escalations.delete(timer);
      void this.ps.run(what, scripts.power(vm.externalId, "turn-off"), this.closed.signal).catch(() => undefined); // already off, or gone
    }, left);
    timer.unref();
    this.escalations.add(timer);
  }

  private async require(identity: VmIdentity): Promise<VmObservation> {
    const vm = await this.observeVm(identity);
    if (vm === undefined) throw new NotFoundError(`hyperv: no VM ${identity.name} (uid ${identity.uid})`);
    return vm;
  }
}

/** File names of a VM's disks start with this: its name (file-safe) and the start of its uid. */
function diskPrefix(identity: VmIdentity): string {
  return `${fileSafe(identity.name)}-${identity.uid.slice(0, 8)}-`;
}

/** Windows forbids \\ / : * ? " < > | in file names; keep names readable and safe. */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "-");
}

/** The Id createVm's script prints on its last line, when it can be read. */
function createdId(printed: string): string | undefined {
  const last = printed.split(/\r?\n/).filter((l) => l.trim() !== "").pop();
  try {
    const id = last === undefined ? "" : vmId(JSON.parse(last) as VmJson);
    return id === "" ? undefined : id;
  } catch {
    return undefined;
  }
}

/** What a generation 2 VM cannot have (src/api/driver-support.ts keeps such VMs away; this is the driver's own word). */
function refuseDevices(spec: VmSpec): void {
  const disk = spec.disks.find((d) => d.bus !== undefined && d.bus !== "virtio" && d.bus !== "scsi");
  if (disk) throw new TerminalError(`hyperv: disk ${disk.name}: a generation 2 VM has SCSI controllers only, not ${disk.bus}`, { reason: "unsupported-device" });
  const nic = spec.networks?.find((n) => n.model !== undefined && n.model !== "virtio" && n.model !== "synthetic");
  if (nic) throw new TerminalError(`hyperv: network ${nic.name}: Hyper-V's NIC is the synthetic adapter, not ${nic.model}`, { reason: "unsupported-device" });
}
