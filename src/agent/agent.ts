// The status watcher process: one HostAgent per Host it serves, started when the Host appears (or
// is bound to it), restarted when its spec changes, stopped when it goes (or is bound elsewhere).
// Which Hosts it serves is its scope: on a hypervisor node (the DaemonSet), the Hosts whose
// spec.node names that node; inside the controller manager, the Hosts that name no node. So every
// Host has exactly one status watcher, and its heartbeat Lease exactly one writer.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Session } from "../../drivers/contract/index.ts";
import { hostsType, virtualMachinesType, type HostObject, type VmObject } from "../fleet/kinds.ts";
import { connectHost, Drivers, type HostSessions } from "../fleet/sessions.ts";
import { hostConnection } from "../fleet/connection.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Logger } from "../runtime/log.ts";
import { readOnlyCache } from "../runtime/with-caches.ts";
import { HostAgent } from "./host-agent.ts";

/** The Hosts a status watcher serves: those bound to its node, or (the manager's) those bound to none. */
export type AgentScope = { node: string } | { unbound: true };

export function serves(scope: AgentScope, host: HostObject): boolean {
  return "node" in scope ? host.spec.node === scope.node : host.spec.node === undefined;
}

export function describeScope(scope: AgentScope): string {
  return "node" in scope ? `Hosts bound to node ${scope.node}` : "Hosts bound to no node";
}

export interface AgentOptions {
  kc: KubeConfig;
  log: Logger;
  identity: string;
  scope: AgentScope;
  leaseNamespace: string;
  heartbeatIntervalMs: number;
  watchNamespace?: string;
  /** Namespaces Host credentials Secrets may come from (when the agent connects its own sessions). */
  credentialsNamespaces?: readonly string[];
  /** The process's own sessions (the manager's), so a host has one session per process; else the agent connects its own. */
  sessions?: HostSessions;
  /** Caches to reuse (the manager's shared ones); else the agent keeps its own. */
  caches?: { hosts: Informer<HostObject>; vms: Informer<VmObject> };
}

export class Agent {
  readonly agents = new Map<string, HostAgent>();
  private readonly options: AgentOptions;
  private readonly hostCache: Informer<HostObject>;
  private readonly vmCache: Informer<VmObject>;
  private readonly ownCaches: boolean;

  constructor(options: AgentOptions) {
    this.options = options;
    this.ownCaches = options.caches === undefined;
    const own = { kc: options.kc, log: options.log };
    this.hostCache = options.caches?.hosts ?? readOnlyCache<HostObject>(own, hostsType);
    this.vmCache = options.caches?.vms ?? readOnlyCache<VmObject>(own, virtualMachinesType, options.watchNamespace);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { kc, log, identity, leaseNamespace, heartbeatIntervalMs, scope } = this.options;
    const secrets = kc.makeApiClient(CoreV1Api);
    // A host that hangs (or whose network is cut) closes no connection: libvirt's keepalive is
    // what notices, and until it does the heartbeat is renewed. 1 s × 5 missed pings: lost after
    // ~5 s instead of the default ~25 s (HA suspects a host only once its heartbeat stops).
    const drivers = new Drivers({ libvirt: () => new LibvirtDriver({ keepalive: { intervalSeconds: 1, count: 5 } }) });
    const shared = this.options.sessions;
    const own = (host: HostObject, signal: AbortSignal) => connectHost(drivers, secrets, host, signal, this.options.credentialsNamespaces);
    const deps = { kc, log, identity, leaseNamespace, heartbeatIntervalMs, vms: this.vmCache };
    /** Per agent: it is being retired (the Host's spec changed, it went, the process stops). */
    const retiring = new Map<HostAgent, () => void>();
    /** The Host each agent was started for (its connection settings, compared on restart). */
    const startedFor = new Map<HostAgent, HostObject>();
    const retire = (agent: HostAgent | undefined, next?: HostObject): void => {
      if (!agent) return;
      // a new endpoint or driver: the old session is no use to anyone, drop it as before
      const was = startedFor.get(agent);
      if (next === undefined || (was !== undefined && sameConnection(was, next))) retiring.get(agent)?.();
      retiring.delete(agent);
      startedFor.delete(agent);
      void agent.close();
    };
    const stop = (name: string): void => {
      retire(this.agents.get(name));
      this.agents.delete(name);
    };
    const start = (h: HostObject): void => {
      const name = h.metadata.name;
      if (!serves(scope, h)) return stop(name);
      const current = this.agents.get(name);
      if (current?.generation === h.metadata.generation) return;
      retire(current, h);
      // a retired agent hands the shared session back; only one whose connection failed drops it
      // (a Host's spec change — maintenance, a label — must not cut a migration using the session)
      let retired = false;
      const connect = shared ? (host: HostObject, signal: AbortSignal) => borrowed(shared, host, signal, () => retired) : own;
      const agent = new HostAgent(h, { ...deps, connect });
      retiring.set(agent, () => (retired = true));
      startedFor.set(agent, h);
      this.agents.set(name, agent);
    };
    if (this.ownCaches) this.vmCache.start();
    await this.vmCache.waitForSync();
    this.hostCache.on({ added: start, updated: (_old, h) => start(h), deleted: (h) => stop(h.metadata.name) });
    if (this.ownCaches) this.hostCache.start();
    else for (const h of this.hostCache.list()) start(h);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
    for (const agent of this.agents.values()) retiring.get(agent)?.();
    retiring.clear();
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
    if (this.ownCaches) await Promise.all([this.hostCache.shutdown(), this.vmCache.shutdown()]);
  }
}

function sameConnection(a: HostObject, b: HostObject): boolean {
  return a.spec.driver === b.spec.driver && JSON.stringify(hostConnection(a)) === JSON.stringify(hostConnection(b));
}

/**
 * The process's shared session for a host, lent to a watcher: closing it drops it from the shared
 * set (the watcher closes after the connection failed, so the next user reconnects) — unless it
 * was already replaced, or the watcher is being retired (its session is fine: others keep using it).
 */
export async function borrowed(sessions: Pick<HostSessions, "session" | "dropIf">, host: HostObject, signal: AbortSignal, retired: () => boolean = () => false): Promise<Session> {
  const session = await sessions.session(host, signal);
  return new Proxy(session, {
    get(target, prop, receiver) {
      if (prop === "close") return () => (retired() ? Promise.resolve() : sessions.dropIf(host.metadata.name, target));
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
