// The world of the monitoring scenario: a make-run-sized fleet on this machine's shared libvirtd
// and dockerd (two Hosts in one pool, protected by an HAPolicy), a private dockerd as a third Host
// in a pool of its own (the one whose daemon the scenario stops), a VDCQuota enforced by the
// manager's webhook, and VMs: two containers and a vApp member running, a libvirt VM defined but
// stopped (no guest burns CPU), one VM that fits on no host, and a container the scenario moves
// from the private host to the shared one.
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { scenarioLabel } from "../lifecycle/fixtures.ts";

const api = "omnivisor.io/v1alpha1";

export interface WorldNames {
  ns: string;
  dc: string;
  pool: string;
  edgePool: string;
  libvirtHost: string;
  dockerHost: string;
  privateHost: string;
}

export function worldNames(run: string): WorldNames {
  const p = `obs-${run}`;
  return { ns: p, dc: `${p}-dc`, pool: `${p}-main`, edgePool: `${p}-edge`, libvirtHost: `${p}-libvirt`, dockerHost: `${p}-docker`, privateHost: `${p}-private` };
}

interface HostSpec {
  name: string;
  pool: string;
  driver: string;
  endpoint: string;
  annotations?: Record<string, string>;
}

const host = (n: WorldNames, h: HostSpec) => ({
  apiVersion: api,
  kind: "Host",
  metadata: { name: h.name, labels: scenarioLabel(n.ns), annotations: h.annotations ?? {} },
  spec: { datacenter: n.dc, pool: h.pool, driver: h.driver, endpoint: h.endpoint, maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 4, memoryOvercommit: 1 },
});

/** Datacenter, pools, Hosts and HAPolicy. */
export function fleet(n: WorldNames, privateEndpoint: string): object[] {
  return [
    { apiVersion: api, kind: "Datacenter", metadata: { name: n.dc }, spec: { imageStore: { location: omnivisorImageStore() } } },
    { apiVersion: api, kind: "HostPool", metadata: { name: n.pool }, spec: { datacenter: n.dc, hosts: [n.libvirtHost, n.dockerHost] } },
    { apiVersion: api, kind: "HostPool", metadata: { name: n.edgePool }, spec: { datacenter: n.dc, hosts: [n.privateHost] } },
    // TCG, as make run's libvirt host (ADR 0003)
    host(n, { name: n.libvirtHost, pool: n.pool, driver: "libvirt", endpoint: "qemu:///system", annotations: { "libvirt.omnivisor.io/virt-type": "qemu" } }),
    host(n, { name: n.dockerHost, pool: n.pool, driver: "docker", endpoint: "unix:///var/run/docker.sock" }),
    host(n, { name: n.privateHost, pool: n.edgePool, driver: "docker", endpoint: privateEndpoint }),
    { apiVersion: api, kind: "HAPolicy", metadata: { name: `${n.ns}-ha` }, spec: { pools: [n.pool], fencingRequired: false, reservedHostFailures: 0 } },
  ];
}

const box = { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "TrySoft", timeoutSeconds: 5 } };

/** The namespace's VDCQuota (applied first: the webhook admits nothing until it has counted the namespace). */
export function tenantQuota(n: WorldNames): object {
  return { apiVersion: api, kind: "VDCQuota", metadata: { name: "tenant", namespace: n.ns }, spec: { hard: { virtualMachines: 8, cpus: 16 } } };
}

/** The VM the scenario moves: made on the private host, then allowed on the shared one too. */
export function mover(n: WorldNames, hosts: string[]): object {
  return { apiVersion: api, kind: "VirtualMachine", metadata: { name: "mover", namespace: n.ns }, spec: { ...box, placement: { hosts } } };
}

export function migration(n: WorldNames, name: string, live: boolean): object {
  return { apiVersion: api, kind: "VMMigration", metadata: { name, namespace: n.ns }, spec: { virtualMachine: "mover", live, targetHost: n.dockerHost } };
}

/** The VMs and the vApp. */
export function workloads(n: WorldNames): object[] {
  const vm = (name: string, spec: object) => ({ apiVersion: api, kind: "VirtualMachine", metadata: { name, namespace: n.ns }, spec });
  return [
    vm("box-1", { ...box, placement: { pool: n.pool, driver: "docker" } }),
    vm("box-2", { ...box, placement: { pool: n.pool, driver: "docker" } }),
    vm("idle", { cpus: 1, memory: "64Mi", powerState: "Stopped", disks: [{ name: "root", size: "1Gi" }], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { pool: n.pool, driver: "libvirt" } }),
    vm("too-big", { cpus: 1, memory: "256Gi", placement: { pool: n.pool } }),
    mover(n, [n.privateHost]),
    { apiVersion: api, kind: "VApp", metadata: { name: "shop", namespace: n.ns }, spec: { members: [{ name: "web", spec: { ...box, placement: { pool: n.pool, driver: "docker" } } }] } },
  ];
}
