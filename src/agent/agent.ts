// The status watcher process: one HostAgent per Host it is responsible for (the named ones, or
// every Host), started when the Host appears, restarted when its spec changes, stopped when it
// goes. Runs on every node with a hypervisor (DaemonSet) or beside remote hosts.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { hostsType, virtualMachinesType, type HostObject, type VmObject } from "../fleet/kinds.ts";
import { Drivers } from "../fleet/sessions.ts";
import { readOnlyCache } from "../runtime/with-caches.ts";
import type { Logger } from "../runtime/log.ts";
import { HostAgent } from "./host-agent.ts";

export interface AgentOptions {
  kc: KubeConfig;
  log: Logger;
  identity: string;
  /** Hosts to watch; empty: every Host. */
  hosts: string[];
  leaseNamespace: string;
  heartbeatIntervalMs: number;
  watchNamespace?: string;
}

export class Agent {
  readonly agents = new Map<string, HostAgent>();
  private readonly options: AgentOptions;
  private readonly hostCache;
  private readonly vmCache;

  constructor(options: AgentOptions) {
    this.options = options;
    this.hostCache = readOnlyCache<HostObject>(options, hostsType);
    this.vmCache = readOnlyCache<VmObject>(options, virtualMachinesType, options.watchNamespace);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { kc, log, identity, leaseNamespace, heartbeatIntervalMs, hosts } = this.options;
    const deps = { kc, log, identity, leaseNamespace, heartbeatIntervalMs, secrets: kc.makeApiClient(CoreV1Api), drivers: new Drivers(), vms: this.vmCache };
    const mine = (h: HostObject): boolean => hosts.length === 0 || hosts.includes(h.metadata.name);
    const start = (h: HostObject): void => {
      if (!mine(h)) return;
      const current = this.agents.get(h.metadata.name);
      if (current?.generation === h.metadata.generation) return;
      void current?.close();
      this.agents.set(h.metadata.name, new HostAgent(h, deps));
    };
    const stop = (h: HostObject): void => {
      void this.agents.get(h.metadata.name)?.close();
      this.agents.delete(h.metadata.name);
    };
    this.vmCache.start();
    await this.vmCache.waitForSync();
    this.hostCache.on({ added: start, updated: (_old, h) => start(h), deleted: stop });
    this.hostCache.start();
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    await Promise.all([this.hostCache.shutdown(), this.vmCache.shutdown()]);
  }
}
