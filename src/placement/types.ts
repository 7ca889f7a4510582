// Plain data in, a decision out: placement knows nothing of Kubernetes objects or drivers.
// The VirtualMachine controller builds these inputs from its caches.

export type DriverKind = "libvirt" | "esxi" | "xenserver" | "hyperv" | "docker";

/** Performance spreads (most free resources first); Progressive packs (fill one host first). */
export type PlacementPolicy = "Performance" | "Progressive";

export interface Resources {
  cpus: number;
  memoryMiB: number;
  storageGiB: number;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

/** Kubernetes label selector semantics: all matchLabels and all matchExpressions must hold. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Where "together" / "apart" is measured for affinity rules. */
export type Topology = "Host" | "HostPool" | "Datacenter";

export interface AffinityTerm {
  /** Selects other VMs (in the same namespace unless namespaces says otherwise). */
  selector: LabelSelector;
  topology: Topology;
  /** Namespaces whose VMs the selector applies to; default: the VM's own. */
  namespaces?: string[];
}

export interface PlacedVm {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

export interface HostCandidate {
  name: string;
  datacenter: string;
  pool?: string;
  driver: DriverKind;
  labels: Record<string, string>;
  /** Reachable and Ready: a host that is not cannot take VMs. */
  ready: boolean;
  maintenance: boolean;
  /** Images this host can boot; undefined = the driver resolves any image at create time. */
  images?: readonly string[];
  /** Allocatable resources (capacity minus the host's own reservation). */
  allocatable: Resources;
  /** Sum of the VMs already placed here, including in-flight (not yet created) placements. */
  allocated: Resources;
  /** Held back for HA failover (N host failures); new placements may not use it. */
  haReserved?: Resources;
  vms: readonly PlacedVm[];
}

export interface PlacementRequest {
  /** images: image names the VM's disks need, each of which a host listing its images must have. */
  vm: PlacedVm & { resources: Resources; images?: readonly string[] };
  policy: PlacementPolicy;
  /** Scope: a datacenter (all its pools), one pool, or listed hosts. All given parts must hold. */
  datacenter?: string;
  pool?: string;
  hosts?: readonly string[];
  driver?: DriverKind;
  /** Drivers that cannot do something the VM asks for (cloud-init, a disk bus, a NIC model), with why: their hosts are left out. */
  unsupportedBy?: Partial<Record<DriverKind, string>>;
  hostSelector?: LabelSelector;
  affinity?: readonly AffinityTerm[];
  antiAffinity?: readonly AffinityTerm[];
}

export interface Rejection {
  host: string;
  reasons: string[];
}

export interface Decision {
  /** The chosen host, or undefined when none fits. */
  host?: string;
  /** CamelCase reason for the Scheduled condition: Placed | NoHostFits | NoHostsInScope. */
  reason: "Placed" | "NoHostFits" | "NoHostsInScope";
  /** One line a user can act on: why this host, or why none. */
  message: string;
  /** Every host that was considered and why it did not fit. */
  rejected: Rejection[];
}
