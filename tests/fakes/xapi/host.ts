// FAKE XAPI — the hosts of the fake pool: pool, host, host_metrics, host_cpu, the templates, and
// the control domain (dom0) each XenServer / XCP-ng host has. The first host is the pool master
// (fake-xcp-1 at 127.0.0.1); further members (fake-xcp-2, … at the addresses the test gives) have
// their own dom0, metrics and CPUs. host.resident_VMs is kept as XAPI keeps it: the VMs whose
// resident_on names the host.
import type { XapiDatabase } from "./database.ts";

const GiB = 1024 ** 3;

export interface FakeHostSize {
  cpus: number;
  memoryGiB: number;
}

export interface FakeHostRefs {
  pool: string;
  host: string;
  metrics: string;
  dom0: string;
  template: string;
  sr: string;
  network: string;
  /** Further pool members (only with FakeXapiOptions.poolMembers). */
  members: string[];
}

/** Another host of the same pool at address (for pool migration), with its own dom0, metrics and CPUs. */
export function addPoolMember(db: XapiDatabase, size: FakeHostSize, name: string, address: string): string {
  const host = db.newRef();
  const metrics = db.add("host_metrics", { memory_total: size.memoryGiB * GiB, memory_free: size.memoryGiB * GiB - dom0MemoryBytes, live: true });
  const cpus: string[] = [];
  for (let i = 0; i < size.cpus; i++) cpus.push(db.add("host_cpu", { number: i, host, utilisation: 0.02, vendor: "GenuineIntel" }));
  const dom0 = addControlDomain(db, size, name, host);
  db.add("host", {
    name_label: name,
    hostname: name,
    address,
    enabled: true,
    API_version_major: 2,
    API_version_minor: 21,
    software_version: { product_brand: "XCP-ng", product_version: "8.3.0", platform_name: "XCP", xapi: "24.19" },
    cpu_info: { cpu_count: String(size.cpus), vendor: "GenuineIntel" },
    host_CPUs: cpus,
    metrics,
    resident_VMs: [dom0],
    other_config: {},
  }, host);
  return host;
}

/** The host's control domain: running, resident on it, with affinity for it (XAPI refuses to start it elsewhere). */
function addControlDomain(db: XapiDatabase, size: FakeHostSize, hostName: string, host: string): string {
  return db.add("VM", vmDefaults({
    name_label: `Control domain on host: ${hostName}`,
    is_control_domain: true,
    power_state: "Running",
    resident_on: host,
    affinity: host,
    domid: 0,
    memory_static_max: dom0MemoryBytes,
    memory_dynamic_max: dom0MemoryBytes,
    VCPUs_max: size.cpus,
    VCPUs_at_startup: size.cpus,
  }));
}

/** Memory the control domain (dom0) keeps for itself. */
export const dom0MemoryBytes = 1 * GiB;

export function seedHost(db: XapiDatabase, size: FakeHostSize): FakeHostRefs {
  const host = db.newRef();
  const metrics = db.add("host_metrics", { memory_total: size.memoryGiB * GiB, memory_free: size.memoryGiB * GiB - dom0MemoryBytes, live: true });
  const cpus: string[] = [];
  for (let i = 0; i < size.cpus; i++) cpus.push(db.add("host_cpu", { number: i, host, utilisation: 0.05 + 0.01 * i, vendor: "GenuineIntel" }));
  const dom0 = addControlDomain(db, size, "fake-xcp-1", host);
  db.add("host", {
    name_label: "fake-xcp-1",
    hostname: "fake-xcp-1",
    address: "127.0.0.1",
    enabled: true,
    API_version_major: 2,
    API_version_minor: 21,
    software_version: { product_brand: "XCP-ng", product_version: "8.3.0", platform_name: "XCP", xapi: "24.19" },
    cpu_info: { cpu_count: String(size.cpus), vendor: "GenuineIntel" },
    host_CPUs: cpus,
    metrics,
    resident_VMs: [dom0],
    other_config: {},
  }, host);
  const template = db.add("VM", vmDefaults({
    name_label: "Other install media",
    is_a_template: true,
    is_default_template: true,
    memory_static_max: 256 * 1024 ** 2,
    memory_dynamic_max: 256 * 1024 ** 2,
    other_config: { disks: '<provision><disk device="0" size="10737418240" sr="" bootable="true" type="system"/></provision>' },
  }));
  const sr = db.add("SR", { name_label: "Local storage", type: "ext", physical_size: 500 * GiB, physical_utilisation: 20 * GiB, shared: false });
  const network = db.add("network", { name_label: "Pool-wide network associated with eth0", bridge: "xenbr0", PIFs: ["OpaqueRef:pif-eth0"], other_config: {} });
  db.add("network", { name_label: "Host internal management network", bridge: "xenapi", PIFs: [], other_config: { is_host_internal_management_network: "true" } });
  const pool = db.add("pool", { name_label: "fake-pool", master: host, default_SR: sr, other_config: {} });
  return { pool, host, metrics, dom0, template, sr, network, members: [] };
}

/** The fields of a VM record the fake keeps (a subset of the XenAPI VM class). */
export function vmDefaults(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    name_label: "",
    name_description: "",
    power_state: "Halted",
    is_a_template: false,
    is_default_template: false,
    is_a_snapshot: false,
    is_control_domain: false,
    resident_on: "OpaqueRef:NULL",
    affinity: "OpaqueRef:NULL",
    domid: -1,
    VCPUs_max: 1,
    VCPUs_at_startup: 1,
    memory_static_min: 128 * 1024 ** 2,
    memory_static_max: 256 * 1024 ** 2,
    memory_dynamic_min: 128 * 1024 ** 2,
    memory_dynamic_max: 256 * 1024 ** 2,
    other_config: {},
    xenstore_data: {},
    tags: [],
    VBDs: [],
    VIFs: [],
    guest_metrics: "OpaqueRef:NULL",
    metrics: "OpaqueRef:NULL",
    allowed_operations: [],
    current_operations: {},
    blocked_operations: {},
    ...fields,
  };
}
