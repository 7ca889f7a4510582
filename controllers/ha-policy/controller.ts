// The HAPolicy controller: finds a lost host of a protected pool in seconds, fences it, and asks
// the VirtualMachine controller to place its HA VMs elsewhere by priority (steps.ts, failover.ts).
// It never writes a VM's status nor creates a VM: the request is an annotation the VM controller
// honours only for a host this policy's status records as fenced (src/fleet/failovers.ts).
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Counter, Gauge } from "prom-client";
import type { HAPolicyStatus } from "../../src/api/index.ts";
import { haPoliciesType, haRestartAnnotation, type HAPolicyObject } from "../../src/fleet/failovers.ts";
import { HeartbeatClock, followHeartbeats, leasesType, type LeaseObject } from "../../src/fleet/heartbeat-lease.ts";
import { hostPoolsType, hostsType, virtualMachinesType, type HostObject, type HostPoolObject, type VmObject } from "../../src/fleet/kinds.ts";
import { Drivers, connectHost, type CredentialsNamespaces } from "../../src/fleet/sessions.ts";
import { VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { Controller } from "../../src/runtime/controller.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import type { ControllerRegistration } from "../../src/runtime/registry.ts";
import type { KubeObject } from "../../src/runtime/resource.ts";
import { ControllerWithCaches, clusterScoped, readOnlyCache } from "../../src/runtime/with-caches.ts";
import { reconcilePolicy, type HaEnv } from "./steps.ts";

export interface HAPolicyControllerOptions {
  /** Namespace of the heartbeat Leases (the manager's --namespace). */
  heartbeatNamespace: string;
  /** How long a direct probe of a silent host may take (default 2 s). */
  probeTimeoutMs?: number;
  /** Between re-probes of a silent host that answered, and between fence attempts while Blocked (default 3 s). */
  retryMs?: number;
  drivers?: Drivers;
  /** Namespaces Host and fencing credentials Secrets may come from (ADR 0028): the manager's --credentials-namespaces. */
  credentialsNamespaces: CredentialsNamespaces;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export function haPolicyController(options: HAPolicyControllerOptions): ControllerRegistration {
  return {
    name: "hapolicy",
    create(deps) {
      const log = deps.log.with({ controller: "hapolicy" });
      const hosts = readOnlyCache<HostObject>({ ...deps, log }, hostsType);
      const pools = readOnlyCache<HostPoolObject>({ ...deps, log }, hostPoolsType);
      const vms = readOnlyCache<VmObject>({ ...deps, log }, virtualMachinesType, deps.namespace);
      const leases = readOnlyCache<LeaseObject>({ ...deps, log }, leasesType, options.heartbeatNamespace);
      const clock = new HeartbeatClock();
      followHeartbeats(leases, clock);
      const placed = new VmsByHost().follow(vms);
      const drivers = options.drivers ?? new Drivers();
      const secrets = deps.kc.makeApiClient(CoreV1Api);
      const objects = deps.kc.makeApiClient(CustomObjectsApi);
      const connect = (host: HostObject, signal: AbortSignal) => connectHost(drivers, secrets, host, signal, options.credentialsNamespaces);
      const fences = new Counter({ name: "omnivisor_ha_fences_total", help: "Fence attempts by method and result (confirmed, failed).", labelNames: ["method", "result"], registers: [deps.metrics.registry] });
      const failovers = new Gauge({ name: "omnivisor_ha_failovers", help: "Host failovers recorded, by policy and phase (Blocked: no confirmed fence, or no capacity).", labelNames: ["policy", "phase"], registers: [deps.metrics.registry] });
      const env: HaEnv = {
        hosts: () => hosts.list(),
        host: (name) => hosts.get(name),
        pools: () => pools.list(),
        vmsOf: (host) => {
          const on = placed.on(host);
          const asked = vms.list().filter((vm) => vm.metadata.annotations?.[haRestartAnnotation] === host && vm.status?.host !== host);
          return [...on, ...asked];
        },
        vmByUid: (uid) => vms.list().find((vm) => vm.metadata.uid === uid),
        clock,
        memory: new Map(),
        connect,
        fenceDeps: { secrets, connect, credentialsNamespaces: options.credentialsNamespaces, heartbeat: (host) => ({ silentMs: clock.silentForMs(host), leaseMs: clock.intervalMs(host) * 3 }) },
        askRestart: async (vm, host) => {
          await objects.patchNamespacedCustomObject(
            { group: "omnivisor.io", version: "v1alpha1", plural: "virtualmachines", namespace: vm.metadata.namespace ?? "", name: vm.metadata.name, body: { metadata: { annotations: { [haRestartAnnotation]: host } } }, fieldManager: "omnivisor-ha" },
            mergePatch,
          );
        },
        fenced: (method, result) => fences.inc({ method, result }),
        phases: (policy, counts) => {
          for (const phase of ["Suspect", "Fencing", "Fenced", "Restarting", "Completed", "Blocked"]) failovers.set({ policy, phase }, counts[phase] ?? 0);
        },
        probeTimeoutMs: options.probeTimeoutMs ?? 2_000,
        retryMs: options.retryMs ?? 3_000,
      };
      const controller = new Controller<HAPolicyObject, HAPolicyStatus>(
        { name: "hapolicy", resource: haPoliciesType, backoff: { baseMs: 500, capMs: 10_000 }, reconciler: { reconcile: (ctx) => reconcilePolicy(ctx, env) } },
        clusterScoped(deps),
      );
      return new ControllerWithCaches(controller, [hosts, pools, vms, leases] as Informer<KubeObject>[]);
    },
  };
}
