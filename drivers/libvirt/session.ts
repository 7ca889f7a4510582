// A Session on one libvirt host (see drivers/contract/types.ts for each method's promise).
// Disks and images are volumes of the host's storage pool (volumes.ts): nothing here touches the
// manager's own filesystem.
import {
  NotFoundError,
  TerminalError,
  UnsupportedError,
  type Capabilities,
  type Credentials,
  type HostConnection,
  type HostObservation,
  type MigrationProgress,
  type MigrationResult,
  type MigrationTarget,
  type PowerTarget,
  type Session,
  type VmEvent,
  type VmIdentity,
  type VmObservation,
  type VmUsageSample,
  type VmSpec,
} from "../contract/index.ts";
import { noCloudSeed } from "../cloud-init/nocloud.ts";
import { domainXml, type DomainPlan } from "./domain-xml.ts";
import { isVirError, toDriverError, VirErr } from "./errors.ts";
import { IdentityCache, watchLifecycle } from "./events.ts";
import { observeHost, type HostFacts } from "./host.ts";
import { cancelMigration, migrateDomain, migrationProgress, type Flight } from "./migrate.ts";
import { findDomain, isUuid, observeDomain, type Observed } from "./observe.ts";
import { applyPower, Escalations } from "./power.ts";
import { uuidToString } from "./rpc/protocol.ts";
import { Flags, StorageFlags } from "./rpc/procedures.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";
import { LibvirtVmUsage } from "./vm-usage.ts";
import { defaultPoolPath, diskVolumeName, seedVolumeName, type HostStorage, type ImageUpload } from "./volumes.ts";

export interface SessionSettings {
  virtType: "kvm" | "qemu";
  /** The test driver: nothing exists on disk, so no volumes are created or resolved. */
  simulated: boolean;
  /** The host's storage pool; absent for simulated hosts. */
  storage?: HostStorage;
  /**
   * Where the host's libvirt keeps QEMU logs (/var/log/libvirt/qemu for qemu:///system): the
   * serial console is logged there, on the host. Absent: no console log file.
   */
  consoleLogDir?: string;
  defaultNetwork?: string;
  defaultBridge?: string;
  host: HostFacts;
  liveMigration: boolean;
  /** LibvirtOptions.sharedStorage of this host: a migration to a host naming the same moves memory only. */
  sharedStorage?: string;
  /** Opens a connection to another libvirt host: the target of a migration. */
  openPeer?: (host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal) => Promise<LibvirtRemote>;
}

export class LibvirtSession implements Session {
  private readonly remote: LibvirtRemote;
  private readonly settings: SessionSettings;
  private readonly escalations = new Escalations();
  private readonly identities = new IdentityCache();
  private readonly vmUsage = new LibvirtVmUsage();
  /** Creates in flight by uid: a second create of the same VM waits for the first (no double disks). */
  private readonly creating = new Map<string, Promise<VmObservation>>();
  /** Migrations in flight by uid: a second migrateVm joins the first, cancelMigration finds it. */
  private readonly migrations = new Map<string, { flight: Flight; done: Promise<MigrationResult> }>();

  constructor(remote: LibvirtRemote, settings: SessionSettings) {
    this.remote = remote;
    this.settings = settings;
  }

  capabilities(): Capabilities {
    return { pause: true, softPowerOff: true, liveMigration: this.settings.liveMigration, snapshots: false, clone: false, liveResize: false };
  }

  observeHost(): Promise<HostObservation> {
    return this.guard("observing the host", () => observeHost(this.remote, this.settings.host));
  }

  observeVmUsage(): Promise<VmUsageSample[]> {
    return this.guard("reading domain stats", () => this.vmUsage.observe(this.remote, this.identities));
  }

  listVms(): Promise<VmObservation[]> {
    return this.guard("listing domains", async () => {
      const all = await Promise.all((await this.remote.listAllDomains()).map((d) => observeDomain(this.remote, d)));
      return all.filter((o): o is Observed => o !== undefined).map((o) => this.seen(o));
    });
  }

  observeVm(identity: VmIdentity): Promise<VmObservation | undefined> {
    return this.guard(`observing ${identity.name}`, async () => {
      const found = await findDomain(this.remote, identity);
      if (!found) return undefined;
      const observation = this.seen(found);
      const storage = this.settings.storage;
      if (!storage || !observation.identity) return observation;
      return { ...observation, disks: await storage.diskSizes(observation.identity.uid, found.facts.diskFiles) };
    });
  }

  createVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const inFlight = this.creating.get(identity.uid);
    if (inFlight) return inFlight;
    const created = this.create(identity, spec).finally(() => this.creating.delete(identity.uid));
    this.creating.set(identity.uid, created);
    return created;
  }

  private create(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    return this.guard(`creating ${identity.name}`, async () => {
      const existing = await findDomain(this.remote, identity);
      if (existing) return this.seen(existing);
      await this.refuseTakenName(identity);
      const plan = await this.plan(identity, spec);
      let observed: Observed | undefined;
      try {
        observed = await observeDomain(this.remote, await this.remote.defineXml(domainXml(plan)));
      } catch (err) {
        // A parallel create of the same identity won the race: return what it made.
        if (!isVirError(err, VirErr.OPERATION_FAILED) && !isVirError(err, VirErr.DOM_EXIST)) throw err;
        observed = await findDomain(this.remote, identity);
        if (!observed) throw err;
      }
      if (!observed) throw new NotFoundError(`${identity.name} vanished right after it was defined`, { reason: "no-domain" });
      if (spec.power && spec.power.state !== "Stopped") {
        await applyPower(this.remote, observed.dom, observed.observation.power, spec.power, this.escalations);
        observed = (await observeDomain(this.remote, observed.dom)) ?? observed;
      }
      return this.seen(observed);
    });
  }

  updateVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    return this.guard(`updating ${identity.name}`, async () => {
      const found = await this.mustFind(identity);
      // CPUs and memory change in the persistent definition; a running guest sees them at its next boot.
      const xml = (await this.remote.getXmlDesc(found.dom, Flags.XML_INACTIVE))
        .replace(/<vcpu([^>]*)>\d+<\/vcpu>/, `<vcpu$1>${spec.cpus}</vcpu>`)
        .replace(/<memory[^>]*>\d+<\/memory>/, `<memory unit='MiB'>${spec.memoryMiB}</memory>`)
        .replace(/<currentMemory[^>]*>\d+<\/currentMemory>/, `<currentMemory unit='MiB'>${spec.memoryMiB}</currentMemory>`);
      await this.remote.defineXml(xml);
      await this.growDisks(identity, spec, found);
      return this.seen((await observeDomain(this.remote, found.dom)) ?? found);
    });
  }

  setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    return this.guard(`setting ${identity.name} ${target.state}`, async () => {
      const found = await this.mustFind(identity);
      await applyPower(this.remote, found.dom, found.observation.power, target, this.escalations);
    });
  }

  deleteVm(identity: VmIdentity): Promise<void> {
    return this.guard(`deleting ${identity.name}`, async () => {
      const found = await findDomain(this.remote, identity);
      // Volumes go even without a domain: a create that failed after making them left them.
      if (!found) {
        await this.settings.storage?.removeVmVolumes(identity.uid);
        return;
      }
      this.escalations.cancel(found.dom.uuid.toString("hex"));
      try {
        if (found.observation.power !== "Stopped" && found.observation.power !== "Crashed") await this.remote.destroy(found.dom);
      } catch (err) {
        if (!isVirError(err, VirErr.OPERATION_INVALID) && !isVirError(err, VirErr.NO_DOMAIN)) throw err;
      }
      const flags = Flags.UNDEFINE_MANAGED_SAVE | Flags.UNDEFINE_SNAPSHOTS_METADATA | Flags.UNDEFINE_NVRAM | Flags.UNDEFINE_CHECKPOINTS_METADATA;
      try {
        await this.remote.undefine(found.dom, flags).catch((err: unknown) => {
          // Drivers without NVRAM or checkpoints (the test driver) reject those flags.
          if (isVirError(err, VirErr.INVALID_ARG)) return this.remote.undefine(found.dom, Flags.UNDEFINE_MANAGED_SAVE | Flags.UNDEFINE_SNAPSHOTS_METADATA);
          throw err;
        });
      } catch (err) {
        if (!isVirError(err, VirErr.NO_DOMAIN)) throw err;
      }
      // The console log stays, as libvirt's own <name>.log does: it is overwritten at the next start.
      await this.settings.storage?.removeVmVolumes(identity.uid, found.facts.diskFiles);
    });
  }

  migrateVm(identity: VmIdentity, target: MigrationTarget): Promise<MigrationResult> {
    const inFlight = this.migrations.get(identity.uid);
    if (inFlight) return inFlight.done;
    const flight: Flight = { cancelled: false, settled: false };
    const done = this.guard(`migrating ${identity.name}`, () => {
      const openPeer = this.settings.openPeer;
      if (!this.settings.liveMigration || !openPeer) throw new UnsupportedError(this.noMigration(), { reason: "no-migration" });
      const source = { remote: this.remote, openPeer, ...(this.settings.storage ? { storage: this.settings.storage } : {}), ...(this.settings.sharedStorage ? { sharedStorage: this.settings.sharedStorage } : {}) };
      return migrateDomain(source, identity, target, flight);
    }).finally(() => {
      flight.settled = true;
      this.migrations.delete(identity.uid);
    });
    this.migrations.set(identity.uid, { flight, done });
    return done;
  }

  migrationProgress(identity: VmIdentity): Promise<MigrationProgress | undefined> {
    if (!this.settings.liveMigration) return Promise.resolve(undefined);
    return this.guard(`reading the migration of ${identity.name}`, () => migrationProgress(this.remote, identity));
  }

  cancelMigration(identity: VmIdentity): Promise<void> {
    if (!this.settings.liveMigration) return Promise.resolve();
    return this.guard(`cancelling the migration of ${identity.name}`, () => cancelMigration(this.remote, identity, this.migrations.get(identity.uid)?.flight));
  }

  async watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
    return watchLifecycle(this.remote, this.identities, signal);
  }

  async close(): Promise<void> {
    this.escalations.cancelAll();
    await this.remote.closeGracefully();
  }

  /** The console log file of a VM this driver created, on the host (for tests and `kubectl omnivisor console`). */
  consoleLogOf(identity: VmIdentity): string | undefined {
    const dir = this.settings.consoleLogDir;
    return dir === undefined ? undefined : `${dir}/${identity.name}-console.log`;
  }

  /**
   * Puts an image on this host (volumes X.qcow2 / X.vmlinuz / X.initrd, see volumes.ts) by
   * uploading its bytes over the connection; parts already there are kept. Returns the volumes made.
   */
  uploadImage(image: string, parts: ImageUpload): Promise<string[]> {
    return this.guard(`uploading image ${image}`, async () => {
      if (!this.settings.storage) throw new UnsupportedError(`${this.remote.uri.name} is simulated: it has no storage`, { reason: "no-storage" });
      return this.settings.storage.uploadImage(image, parts);
    });
  }

  /** Disks grow to their spec size (never shrink); a running guest's disk is grown by QEMU. */
  private async growDisks(identity: VmIdentity, spec: VmSpec, found: Observed): Promise<void> {
    const storage = this.settings.storage;
    if (!storage) return;
    const running = found.observation.power === "Running" || found.observation.power === "Paused";
    for (const disk of spec.disks) {
      if (disk.sizeGiB === undefined) continue;
      const live = (path: string, bytes: bigint): Promise<void> => this.remote.blockResize(found.dom, path, bytes, StorageFlags.BLOCK_RESIZE_BYTES);
      await storage.growDisk(identity.uid, { name: disk.name, sizeGiB: disk.sizeGiB }, running ? live : undefined);
    }
  }

  private noMigration(): string {
    if (this.settings.simulated) return `${this.remote.uri.name} is libvirt's test driver: a simulated host has no QEMU to migrate`;
    return `${this.remote.uri.name} cannot migrate domains: its libvirtd offers no peer-to-peer migration with parameters`;
  }

  private seen(o: Observed): VmObservation {
    this.identities.remember(o.observation.externalId, o.observation.identity);
    return o.observation;
  }

  private async mustFind(identity: VmIdentity): Promise<Observed> {
    const found = await findDomain(this.remote, identity);
    if (!found) throw new NotFoundError(`no domain carries uid ${identity.uid} (${identity.name})`, { reason: "no-domain" });
    return found;
  }

  private async refuseTakenName(identity: VmIdentity): Promise<void> {
    try {
      const other = await this.remote.lookupByName(identity.name);
      throw new TerminalError(`domain name ${identity.name} is taken by ${uuidToString(other.uuid)}, which is not VM ${identity.uid}`, { reason: "name-taken" });
    } catch (err) {
      if (!isVirError(err, VirErr.NO_DOMAIN)) throw err;
    }
  }

  private async plan(identity: VmIdentity, spec: VmSpec): Promise<DomainPlan> {
    const storage = this.settings.storage;
    const plan: DomainPlan = { identity, virtType: this.settings.virtType, cpus: spec.cpus, memoryMiB: spec.memoryMiB, disks: [], nics: [] };
    if (isUuid(identity.uid)) plan.uuid = identity.uid;
    for (const disk of spec.disks) {
      if (!storage) {
        // The test driver never opens the path; it only has to look like one.
        plan.disks.push({ path: `${defaultPoolPath}/${diskVolumeName(identity.uid, disk.name)}`, format: "qcow2", ...devicesOf(disk) });
        continue;
      }
      const image = disk.image === undefined ? undefined : await storage.resolveImage(disk.image);
      if (image?.kernel && !plan.kernel) {
        plan.kernel = { path: image.kernel, cmdline: `console=ttyS0 quiet omnivisor.hostname=${identity.name}` };
        if (image.initrd) plan.kernel.initrd = image.initrd;
      }
      const path = await storage.ensureDisk(identity.uid, disk, image?.disk);
      plan.disks.push({ path, format: "qcow2", ...devicesOf(disk) });
    }
    if (spec.cloudInit !== undefined) plan.disks.push({ path: await this.seed(identity, spec), format: "raw", bus: "sata", cdrom: true });
    plan.nics = this.nics(spec);
    const log = spec.console === false ? undefined : this.consoleLogOf(identity);
    if (log !== undefined) plan.consoleLog = log;
    return plan;
  }

  /**
   * The cloud-init NoCloud seed (an ISO labelled cidata), uploaded as the volume <uid>-cidata.iso
   * of the host's pool — through libvirt, so a remote host gets it like a local one; deleteVm
   * removes it with the VM's other volumes. Returns its path on the host.
   */
  private async seed(identity: VmIdentity, spec: VmSpec): Promise<string> {
    const storage = this.settings.storage;
    if (!storage) return `${defaultPoolPath}/${seedVolumeName(identity.uid)}`; // the test driver never opens it
    const image = noCloudSeed(spec.cloudInit!, identity.uid, identity.kubeName ?? identity.name);
    return storage.ensureSeed(identity.uid, image);
  }

  /** Spec networks to NICs: a named bridge or libvirt network, else the host's defaults. */
  private nics(spec: VmSpec): DomainPlan["nics"] {
    return (spec.networks ?? [{ name: "default" }]).map((n) => {
      if (n.model === "netfront" || n.model === "synthetic") {
        throw new TerminalError(`network ${n.name}: model ${n.model} is not a QEMU NIC (libvirt takes virtio, e1000, vmxnet3)`, { reason: "unsupported-device" });
      }
      const bridge = n.bridge ?? (n.network ? undefined : this.settings.defaultBridge);
      const nic: DomainPlan["nics"][number] = bridge ? { kind: "bridge", bridge } : { kind: "network", network: n.network ?? this.settings.defaultNetwork ?? "default" };
      if (n.model !== undefined) nic.model = n.model;
      if (n.macAddress !== undefined) nic.mac = n.macAddress;
      return nic;
    });
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isVirError(err, VirErr.NO_STORAGE_POOL)) this.settings.storage?.forgetPool();
      throw toDriverError(err, what);
    }
  }
}

/** A spec disk's bus and boot order, as the plan carries them. */
function devicesOf(disk: VmSpec["disks"][number]): { bus?: NonNullable<VmSpec["disks"][number]["bus"]>; bootOrder?: number } {
  return { ...(disk.bus !== undefined ? { bus: disk.bus } : {}), ...(disk.bootOrder !== undefined ? { bootOrder: disk.bootOrder } : {}) };
}
