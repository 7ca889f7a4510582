// One connection to a Docker host, implementing the contract's Session. Each call is one or two
// Docker API requests; nothing here waits for a workload except a TrySoft stop, which is left
// running in dockerd (it enforces the deadline itself) once it takes longer than a moment.
import type { Readable } from "node:stream";
import type Dockerode from "dockerode";
import {
  type Capabilities,
  type HostConnection,
  type HostObservation,
  identityKeys,
  InvalidTransitionError,
  type MigrationProgress,
  type MigrationResult,
  type MigrationTarget,
  NotFoundError,
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
import { containerNetworks, createOptions, resourceLimits } from "./container-spec.ts";
import { translateDockerError } from "./errors.ts";
import { vmEvents } from "./events.ts";
import { hostFromInfo, LocalUsage, type DockerInfo } from "./host.ts";
import { observation, powerOf } from "./observe.ts";
import { DockerVmUsage } from "./vm-usage.ts";

/** How long setPower waits for a TrySoft stop before leaving it to dockerd. */
const stopWaitMs = 2_000;
const defaultDeadlineSeconds = 30;

export class DockerSession implements Session {
  private readonly docker: Dockerode;
  private readonly host: HostConnection;
  private readonly local: boolean;
  private readonly usage = new LocalUsage();
  private readonly vmUsage = new DockerVmUsage();
  private readonly closed = new AbortController();
  private hostSize: { cpus: number; memoryMiB: number } | undefined;

  constructor(docker: Dockerode, host: HostConnection) {
    this.docker = docker;
    this.host = host;
    this.local = host.endpoint.startsWith("unix:");
  }

  capabilities(): Capabilities {
    return { pause: true, softPowerOff: true, liveMigration: false, snapshots: false, clone: false, liveResize: true };
  }

  async observeHost(): Promise<HostObservation> {
    const info = (await this.call("docker info", () => this.docker.info())) as DockerInfo;
    const host = hostFromInfo(info);
    this.hostSize = { cpus: host.capacity.cpus, memoryMiB: host.capacity.memoryMiB };
    if (this.local) {
      const storage = await this.usage.storageGiB(info.DockerRootDir);
      if (storage !== undefined) host.capacity.storageGiB = storage;
      host.usage = await this.usage.usage();
    }
    return host;
  }

  /** One list of the running managed containers, then one stats request each (Docker has no other way). */
  observeVmUsage(): Promise<VmUsageSample[]> {
    return this.vmUsage.observe(this.docker, (what, fn) => this.call(what, fn));
  }

  async listVms(): Promise<VmObservation[]> {
    const containers = await this.call("list containers", () => this.docker.listContainers({ all: true }));
    const observed = await Promise.all(containers.map((c) => this.inspect(c.Id)));
    return observed.filter((o): o is VmObservation => o !== undefined);
  }

  async observeVm(identity: VmIdentity): Promise<VmObservation | undefined> {
    const info = await this.find(identity);
    return info === undefined ? undefined : this.observation(info);
  }

  /**
   * Four Docker requests for a new VM: the uid lookup (one label-filtered list finds it under any
   * name, also renamed), create, start by id, inspect by id. A racing create of the same uid
   * loses on the name and returns the winner's container.
   */
  async createVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const existing = await this.findByUid(identity);
    if (existing !== undefined) return this.observation(existing);
    const options = createOptions(identity, spec, this.defaultNetwork());
    let id: string;
    try {
      id = (await this.docker.createContainer(options)).id;
      await this.joinExtraNetworks(id, spec);
    } catch (err) {
      const e = translateDockerError(err, `create ${identity.name}`);
      // A concurrent create of the same uid may hold the name: that is the same VM, not a conflict.
      if (e.reason !== "name-taken") throw e;
      return this.nameHolder(identity, e);
    }
    const container = this.docker.getContainer(id);
    const power = spec.power?.state ?? "Stopped";
    if (power !== "Stopped") await this.idempotent(`start ${identity.name}`, () => container.start());
    if (power === "Paused") await this.call(`pause ${identity.name}`, () => container.pause());
    const created = await this.inspect(id);
    if (created === undefined) throw new RetryableError(`docker: ${identity.name} vanished right after create`, { reason: "race" });
    return created;
  }

  async updateVm(identity: VmIdentity, spec: VmSpec): Promise<VmObservation> {
    const id = (await this.require(identity)).Id;
    await this.call(`update ${identity.name}`, () => this.docker.getContainer(id).update(resourceLimits(spec)));
    const after = await this.inspect(id);
    if (after === undefined) throw new NotFoundError(`docker: ${identity.name} vanished during update`);
    return after;
  }

  async setPower(identity: VmIdentity, target: PowerTarget): Promise<void> {
    const info = await this.require(identity);
    const container = this.docker.getContainer(info.Id);
    const state = powerOf(info.State);
    const what = `${target.state} ${identity.name}`;
    switch (target.state) {
      case "Running":
        if (state === "Paused") await this.idempotent(what, () => container.unpause());
        else if (state !== "Running") await this.idempotent(what, () => container.start());
        return;
      case "Paused":
        if (state === "Paused") return;
        if (state !== "Running") throw new InvalidTransitionError(`docker: cannot pause ${identity.name}: it is ${state}`, { reason: "state" });
        await this.call(what, () => container.pause());
        return;
      case "Stopped":
        if (state !== "Running" && state !== "Paused") return;
        await this.stop(container, target, what);
        return;
    }
  }

  async deleteVm(identity: VmIdentity): Promise<void> {
    const info = await this.find(identity);
    if (info === undefined) return;
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (err) {
      const e = translateDockerError(err, `delete ${identity.name}`);
      // Gone already, or a removal already in progress: either way it is going away.
      if (e.kind === "not-found" || /already in progress/i.test(e.message)) return;
      throw e;
    }
  }

  /** Docker has no live migration: a container's processes cannot move to another dockerd (CRIU checkpoints are experimental and not offered here). */
  migrateVm(identity: VmIdentity, _target: MigrationTarget): Promise<MigrationResult> {
    return Promise.reject(
      new UnsupportedError(`docker: container ${identity.name} cannot be migrated — Docker has no live migration of containers; recreate it on the other host instead`, { reason: "no-migration" }),
    );
  }

  /** Nothing migrates on Docker (see migrateVm). */
  migrationProgress(_identity: VmIdentity): Promise<MigrationProgress | undefined> {
    return Promise.resolve(undefined);
  }

  cancelMigration(_identity: VmIdentity): Promise<void> {
    return Promise.resolve();
  }

  async watch(signal: AbortSignal): Promise<AsyncIterable<VmEvent>> {
    const both = AbortSignal.any([signal, this.closed.signal]);
    // dockerd answers the events request before it subscribes; `since` closes that gap by
    // replaying from its event log. Whole seconds (dockerd reads a fraction as nanoseconds), one
    // back for margin: this may repeat an event from just before — harmless, events carry the new
    // state and keep their order.
    const since = Math.floor(Date.now() / 1000) - 1;
    const stream = await this.call("watch events", () =>
      this.docker.getEvents({ since, filters: { type: ["container"] }, abortSignal: both }),
    );
    // docker-modem hands back the HTTP response itself, a node Readable.
    return vmEvents(stream as Readable, both);
  }

  close(): Promise<void> {
    this.closed.abort();
    return Promise.resolve();
  }

  private defaultNetwork(): string {
    return this.host.docker?.defaultNetwork ?? "bridge";
  }

  private async joinExtraNetworks(id: string, spec: VmSpec): Promise<void> {
    const names = containerNetworks(spec, this.defaultNetwork());
    for (const [i, network] of names.entries()) {
      if (i === 0) continue;
      const mac = spec.networks?.[i]?.macAddress;
      await this.call(`connect ${id} to ${network}`, () => this.docker.getNetwork(network).connect({ Container: id, ...(mac !== undefined ? { EndpointConfig: { MacAddress: mac } } : {}) }));
    }
  }

  private async stop(container: Dockerode.Container, target: PowerTarget, what: string): Promise<void> {
    const mode = target.mode ?? "TrySoft";
    if (mode === "Hard") return this.idempotent(what, () => container.kill());
    if (mode === "Soft") return this.idempotent(what, () => container.kill({ signal: "SIGTERM" }));
    // TrySoft is `docker stop -t deadline`: SIGTERM, then SIGKILL after the deadline, enforced
    // by dockerd. Wait briefly (most workloads stop at once), then let dockerd finish it.
    const t = target.deadlineSeconds ?? defaultDeadlineSeconds;
    const stopping = this.idempotent(what, () => container.stop({ t })).then(
      () => true,
      () => false, // the next observe reports the outcome
    );
    await Promise.race([stopping, new Promise((resolve) => setTimeout(resolve, stopWaitMs).unref())]);
  }

  /**
   * Who holds identity.name after a name conflict. Docker reserves the name before the other
   * create finishes, so a racing create of the same uid may not be visible yet: wait for it.
   */
  private async nameHolder(identity: VmIdentity, conflict: Error): Promise<VmObservation> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const holder = await this.inspect(identity.name);
      if (holder !== undefined && holder.identity?.uid === identity.uid) return holder;
      if (holder !== undefined) {
        throw new TerminalError(`docker: the name ${identity.name} is taken by another container`, { reason: "name-taken", cause: conflict });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new RetryableError(`docker: the name ${identity.name} is reserved but no container holds it yet`, { reason: "race", cause: conflict });
  }

  private async inspect(ref: string): Promise<VmObservation | undefined> {
    const info = await this.inspectInfo(ref);
    return info === undefined ? undefined : this.observation(info);
  }

  private async observation(info: Dockerode.ContainerInspectInfo): Promise<VmObservation> {
    const size = this.hostSize ?? (await this.observeSize());
    return observation(info, size.cpus, size.memoryMiB);
  }

  /** A container by id or name; undefined when there is none. */
  private async inspectInfo(ref: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(ref).inspect();
    } catch (err) {
      const e = translateDockerError(err, `inspect ${ref}`);
      if (e.kind === "not-found") return undefined;
      throw e;
    }
  }

  private async observeSize(): Promise<{ cpus: number; memoryMiB: number }> {
    const host = hostFromInfo((await this.call("docker info", () => this.docker.info())) as DockerInfo);
    this.hostSize = { cpus: host.capacity.cpus, memoryMiB: host.capacity.memoryMiB };
    return this.hostSize;
  }

  /**
   * The container of a VM, inspected. Cheap lookups first — by external id, then by name — each
   * accepted only when the container carries the uid; then the uid label across all containers
   * (a renamed container); last, the external id of a container without another VM's uid (adoption: canAdopt).
   */
  private async find(identity: VmIdentity): Promise<Dockerode.ContainerInspectInfo | undefined> {
    const uidOf = (info: Dockerode.ContainerInspectInfo): string | undefined => info.Config.Labels?.[identityKeys.uid];
    const byId = identity.externalId === undefined ? undefined : await this.inspectInfo(identity.externalId);
    if (byId !== undefined && uidOf(byId) === identity.uid) return byId;
    const byName = await this.inspectInfo(identity.name);
    if (byName !== undefined && uidOf(byName) === identity.uid) return byName;
    const labelled = await this.findByUid(identity);
    if (labelled !== undefined) return labelled;
    if (byId !== undefined && canAdopt(identity, uidOf(byId))) return byId;
    return undefined;
  }

  /** The container carrying identity.uid in its labels, under whatever name it has now. */
  private async findByUid(identity: VmIdentity): Promise<Dockerode.ContainerInspectInfo | undefined> {
    const labelled = await this.call(`find ${identity.name}`, () =>
      this.docker.listContainers({ all: true, filters: { label: [`${identityKeys.uid}=${identity.uid}`] } }),
    );
    return labelled[0] === undefined ? undefined : this.inspectInfo(labelled[0].Id);
  }

  private async require(identity: VmIdentity): Promise<Dockerode.ContainerInspectInfo> {
    const info = await this.find(identity);
    if (info === undefined) throw new NotFoundError(`docker: no container for ${identity.name} (uid ${identity.uid})`);
    return info;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateDockerError(err, `docker: ${what}`);
    }
  }

  /** A request whose "already done" answers (304 Not Modified; 409 not running on kill) are success. */
  private async idempotent(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 304) return;
      const e = translateDockerError(err, `docker: ${what}`);
      if (e.kind === "invalid-transition" && /is not running/i.test(e.message)) return;
      throw e;
    }
  }
}
