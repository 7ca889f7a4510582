// The controller manager's own status watcher: it follows the Hosts that name no node (no
// status-watcher pod is near them), through the manager's driver sessions and caches, while this
// replica leads — as a controller does, so two replicas never both renew a host's heartbeat.
import { hostsType, virtualMachinesType, type HostObject, type VmObject } from "../fleet/kinds.ts";
import type { HostSessions } from "../fleet/sessions.ts";
import type { ControllerRegistration, ManagedController } from "../runtime/registry.ts";
import { readOnlyCache } from "../runtime/with-caches.ts";
import { Agent } from "./agent.ts";

export interface ManagerWatcherOptions {
  sessions: HostSessions;
  identity: string;
  leaseNamespace: string;
  heartbeatIntervalMs: number;
}

export function statusWatcherInManager(options: ManagerWatcherOptions): ControllerRegistration {
  return {
    name: "status-watcher",
    create(deps): ManagedController {
      options.sessions.attach(deps.kc, deps.metrics.registry);
      const log = deps.log.with({ component: "status-watcher" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      const agent = new Agent({
        kc: deps.kc,
        log,
        identity: options.identity,
        scope: { unbound: true },
        leaseNamespace: options.leaseNamespace,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        sessions: options.sessions,
        caches: { hosts, vms },
        ...(deps.namespace ? { watchNamespace: deps.namespace } : {}),
      });
      const stop = new AbortController();
      let running: Promise<void> | undefined;
      return {
        name: "status-watcher",
        informer: {
          get synced() {
            return hosts.synced && vms.synced;
          },
          stats: hosts.stats,
          get: (key) => hosts.get(key),
        },
        startCache() {
          hosts.start();
          vms.start();
        },
        async startWorkers() {
          await Promise.all([hosts.waitForSync(), vms.waitForSync()]);
          running = agent.run(stop.signal).catch((err: unknown) => log.error("status watcher stopped", { error: String(err) }));
        },
        async stop() {
          stop.abort();
          await running;
          await Promise.all([hosts.shutdown(), vms.shutdown()]);
        },
        abort() {
          stop.abort();
        },
      };
    },
  };
}
