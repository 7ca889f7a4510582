// One driver session per Host, shared by the Host and VirtualMachine controllers. A session is
// reused while the Host's connection settings and credentials stay the same (compared by a hash,
// so no secret is kept beside it) and replaced when they change; closed when the Host goes.
import { createHash } from "node:crypto";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Credentials, Driver, DriverKind, HostConnection, MigrationTarget, Session } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { HyperVDriver } from "../../drivers/hyperv/driver.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { XenServerDriver } from "../../drivers/xenserver/driver.ts";
import { statusCode } from "../runtime/log.ts";
import type { Registry } from "prom-client";
import { DriverCallMetrics } from "../metrics/driver-calls.ts";
import { credentialsFromSecret, hostConnection, trustFromSecret, withSecretTrust } from "./connection.ts";
import type { HostObject } from "./kinds.ts";

interface Entry {
  fingerprint: string;
  session: Promise<Session>;
}

/** No more sessions: this process stopped talking to hypervisors (see HostSessions.shutdown). */
export class SessionsClosedError extends Error {
  override name = "SessionsClosedError";
}

/** Why credentials could not be read: said in the Reachable condition, without the secret's content. */
export class CredentialsError extends Error {
  override name = "CredentialsError";
}

const connectTimeoutMs = 15_000;

/** One driver object per kind, shared by every session of the process. */
export class Drivers {
  private readonly made = new Map<DriverKind, Driver>();
  private readonly factories: Record<DriverKind, () => Driver>;
  /** Set by measure(): every driver handed out from then on is timed and counted. */
  private calls: DriverCallMetrics | undefined;

  constructor(overrides: Partial<Record<DriverKind, () => Driver>> = {}) {
    this.factories = {
      libvirt: () => new LibvirtDriver(),
      docker: () => new DockerDriver(),
      esxi: () => new EsxiDriver(),
      xenserver: () => new XenServerDriver(),
      hyperv: () => new HyperVDriver(),
      ...overrides,
    };
  }

  for(kind: DriverKind): Driver {
    let d = this.made.get(kind);
    if (!d) this.made.set(kind, (d = this.calls ? this.calls.driver(this.factories[kind]()) : this.factories[kind]()));
    return d;
  }

  /** Driver calls are recorded in this registry (the first registry given wins; drivers made before are not measured). */
  measure(registry: Registry): void {
    this.calls ??= new DriverCallMetrics(registry);
  }
}

/** What a Host's Secret gives: credentials, and TLS trust (ca.crt / thumbprint) if it holds any. */
export interface HostSecret {
  credentials: Credentials;
  trust: ReturnType<typeof trustFromSecret>;
}

/**
 * The namespaces Host credentials Secrets may come from (the operator's configuration; default its
 * own namespace): a Host naming a Secret elsewhere is refused before anything is read, so a Host
 * cannot make the operator read a tenant's Secrets (DESIGN.md, tenancy).
 */
export type CredentialsNamespaces = readonly string[];

/** --credentials-namespaces (else OMNIVISOR_CREDENTIALS_NAMESPACES): a comma-separated list; absent or empty, the process's own namespace. */
export function credentialsNamespacesFrom(flag: string | undefined, own: string): CredentialsNamespaces {
  const list = (flag ?? process.env["OMNIVISOR_CREDENTIALS_NAMESPACES"])?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];
  return list.length > 0 ? list : [own];
}

/** The Host's Secret; CredentialsError (what failed, never the content) otherwise. */
export async function readHostSecret(secrets: CoreV1Api, host: HostObject, allowed?: CredentialsNamespaces): Promise<HostSecret | undefined> {
  const ref = host.spec.credentialsSecretRef;
  if (!ref) return undefined;
  if (allowed !== undefined && !allowed.includes(ref.namespace)) {
    throw new CredentialsError(`credentials Secret ${ref.namespace}/${ref.name} is in namespace ${ref.namespace}; this operator reads Host credentials only from ${allowed.join(", ")} (--credentials-namespaces)`);
  }
  try {
    const secret = await secrets.readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
    return { credentials: credentialsFromSecret(secret.data), trust: trustFromSecret(secret.data) };
  } catch (err) {
    const code = statusCode(err);
    if (code === 404) throw new CredentialsError(`credentials Secret ${ref.namespace}/${ref.name} not found`);
    if (code === 403) throw new CredentialsError(`credentials Secret ${ref.namespace}/${ref.name} cannot be read by the operator (forbidden)`);
    throw new CredentialsError(`credentials Secret ${ref.namespace}/${ref.name} could not be read (HTTP ${code ?? "error"})`);
  }
}

/** A fresh session to the Host (the caller closes it): what the status watcher reconnects with. */
export async function connectHost(drivers: Drivers, secrets: CoreV1Api, host: HostObject, signal: AbortSignal, allowed?: CredentialsNamespaces): Promise<Session> {
  const secret = await readHostSecret(secrets, host, allowed);
  return drivers.for(host.spec.driver).connect(withSecretTrust(hostConnection(host), secret?.trust ?? {}), secret?.credentials, signal);
}

export class HostSessions {
  private readonly drivers: Drivers;
  private readonly entries = new Map<string, Entry>();
  /** Set by shutdown(): why no session is handed out any more. */
  private refusal: string | undefined;
  private secrets: CoreV1Api | undefined;

  private readonly credentialsNamespaces: CredentialsNamespaces | undefined;

  /** credentialsNamespaces: where Host credentials Secrets may live (undefined: anywhere — tests of the drivers only). */
  constructor(drivers: Drivers = new Drivers(), credentialsNamespaces?: CredentialsNamespaces) {
    this.drivers = drivers;
    this.credentialsNamespaces = credentialsNamespaces;
  }

  /** The API client that reads credentials Secrets, and the registry driver calls are recorded in (every controller's create() calls this). */
  attach(kc: KubeConfig, registry?: Registry): void {
    this.secrets ??= kc.makeApiClient(CoreV1Api);
    if (registry) this.drivers.measure(registry);
  }

  /**
   * The Host's session, re-reading its Secret: reconnects when the settings or credentials changed
   * since the last connect. The Host controller calls this on every pass.
   */
  async refresh(host: HostObject, signal: AbortSignal): Promise<Session> {
    if (this.refusal) throw new SessionsClosedError(this.refusal);
    const secret = await this.secret(host);
    return this.open(host, withSecretTrust(hostConnection(host), secret?.trust ?? {}), secret?.credentials, signal);
  }

  /** The Host's session as it is (connecting if there is none): VM passes do not re-read Secrets. */
  async session(host: HostObject, signal: AbortSignal): Promise<Session> {
    if (this.refusal) throw new SessionsClosedError(this.refusal);
    const entry = this.entries.get(host.metadata.name);
    if (entry) return entry.session;
    return this.refresh(host, signal);
  }

  /** How another host's daemon reaches this Host when a VM migrates to it (its connection and credentials). */
  async migrationTarget(host: HostObject, live: boolean): Promise<MigrationTarget> {
    const secret = await this.secret(host);
    return { host: withSecretTrust(hostConnection(host), secret?.trust ?? {}), ...(secret?.credentials ? { credentials: secret.credentials } : {}), live };
  }

  /** Forgets a session that failed (the next call reconnects). */
  async drop(hostName: string): Promise<void> {
    const entry = this.entries.get(hostName);
    if (!entry) return;
    this.entries.delete(hostName);
    await entry.session.then((s) => s.close()).catch(() => undefined);
  }

  /** Forgets the host's session if it is still this one (a borrower saw it fail). */
  async dropIf(hostName: string, session: Session): Promise<void> {
    const entry = this.entries.get(hostName);
    if (!entry) return;
    const current = await entry.session.catch(() => undefined);
    if (current === session && this.entries.get(hostName) === entry) await this.drop(hostName);
  }

  /**
   * Closes every session and refuses new ones from now on (the manager lost its Lease: a pass
   * still running must not reach a hypervisor again; its calls in flight fail with the connection).
   */
  async shutdown(why: string): Promise<void> {
    this.refusal = why;
    await this.closeAll();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((name) => this.drop(name)));
  }

  private async open(host: HostObject, connection: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const name = host.metadata.name;
    const fingerprint = createHash("sha256").update(JSON.stringify([host.spec.driver, connection, credentials ?? null])).digest("hex");
    const existing = this.entries.get(name);
    if (existing?.fingerprint === fingerprint) return existing.session;
    if (existing) await this.drop(name);
    if (this.refusal) throw new SessionsClosedError(this.refusal); // shut down while the Secret was read
    const driver = this.drivers.for(host.spec.driver);
    const session = driver.connect(connection, credentials, AbortSignal.any([signal, AbortSignal.timeout(connectTimeoutMs)]));
    const entry = { fingerprint, session };
    this.entries.set(name, entry);
    try {
      const opened = await session;
      if (this.refusal) {
        await this.drop(name); // shut down while it connected
        throw new SessionsClosedError(this.refusal);
      }
      return opened;
    } catch (err) {
      if (this.entries.get(name) === entry) this.entries.delete(name);
      throw err;
    }
  }

  private secret(host: HostObject): Promise<HostSecret | undefined> {
    if (!this.secrets) return Promise.reject(new Error("HostSessions.attach(kc) was not called"));
    return readHostSecret(this.secrets, host, this.credentialsNamespaces);
  }
}
