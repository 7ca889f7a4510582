// The Host of an HA scenario (and of bench-ha): a private libvirtd on shared storage, bound to its
// node's status watcher, fenced by Redfish through its TEST BMC (tests/harness/test-bmc.ts), whose
// credentials are the Secret "bmc" in the scenario's namespace — or by the fencing given.
import { scenarioLabel } from "../lifecycle/fixtures.ts";

export interface FencedHost {
  name: string;
  /** The scenario's namespace (its Hosts' label, the BMC Secret's namespace). */
  ns: string;
  datacenter: string;
  pool: string;
  endpoint: string;
  /** The TEST BMC's address (Redfish fencing); unused when `fencing` is given. */
  bmcAddress?: string;
  /** Another spec.fencing (e.g. Watchdog). */
  fencing?: object;
  /** Hosts whose disks are on the same shared directory carry the same value. */
  sharedStorage: string;
  virtType?: string;
  cpuOvercommit?: number;
}

export function fencedHost(h: FencedHost): object {
  return {
    apiVersion: "omnivisor.io/v1alpha1",
    kind: "Host",
    metadata: {
      name: h.name,
      labels: scenarioLabel(h.ns),
      annotations: { "libvirt.omnivisor.io/storage-pool": "shared", "libvirt.omnivisor.io/shared-storage": h.sharedStorage, "libvirt.omnivisor.io/virt-type": h.virtType ?? "qemu" },
    },
    spec: {
      datacenter: h.datacenter,
      pool: h.pool,
      driver: "libvirt",
      endpoint: h.endpoint,
      node: `${h.name}-node`,
      cpuOvercommit: h.cpuOvercommit ?? 8,
      fencing: h.fencing ?? { method: "OutOfBand", outOfBand: { protocol: "Redfish", address: h.bmcAddress, credentialsSecretRef: { name: "bmc", namespace: h.ns } }, timeoutSeconds: 10 },
    },
  };
}
