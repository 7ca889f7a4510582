// What `make run` adds to the local control plane: the local libvirtd and dockerd as Host
// objects, the operator and the status watcher as child processes, and (on the first start) a
// few sample VMs. On stop only the processes stop: the VMs run on, and the next start, which
// serves the same stored objects, picks them up again (issue #18).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { HostObject } from "../fleet/kinds.ts";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import type { ControlPlane } from "../local/control-plane.ts";
import { ManagedProcess } from "../local/process.ts";
import { servingCert } from "../local/pki.ts";
import { freePort } from "../local/ports.ts";
import type { Toolchain } from "../local/toolchain.ts";
import { waitFor } from "../local/wait.ts";
import { watcherCredentialsBinding } from "../local/watcher-credentials.ts";
import { quotaWebhookConfiguration } from "../local/webhook-config.ts";
import { connect } from "node:tls";
import { managerNodeFlags } from "./manager-node.ts";

const run = promisify(execFile);
/** The sample VMs' namespace (OMNIVISOR_DEMO_NAMESPACE: the make-run scenario's own, so it never meets a real `make run`'s VMs on the shared hypervisors). */
export const demoNamespace = process.env["OMNIVISOR_DEMO_NAMESPACE"] || "omnivisor-demo";
const api = "omnivisor.io/v1alpha1";

/**
 * This machine as a node name (a DNS label): the local Hosts are bound to it, and the status
 * watcher started here follows them, as the DaemonSet's pod on a hypervisor node does.
 */
export function localNode(): string {
  const name = hostname().toLowerCase().replace(/[^a-z0-9.-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return name || "localhost";
}

function hosts(): HostObject[] {
  return [
    {
      apiVersion: api,
      kind: "Host",
      // TCG: on this kind of machine /dev/kvm (kvm_pvm) cannot boot a stock guest (ADR 0003).
      // Disks and images: volumes of the pool "omnivisor" that make services defines (ADR 0015).
      metadata: { name: "local-libvirt", annotations: { "libvirt.omnivisor.io/virt-type": "qemu" } },
      spec: { datacenter: "local", pool: "local", node: localNode(), driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 4, memoryOvercommit: 1, adoption: { namespaces: [demoNamespace] } },
    },
    {
      apiVersion: api,
      kind: "Host",
      metadata: { name: "local-docker" },
      spec: { datacenter: "local", pool: "local", node: localNode(), driver: "docker", endpoint: "unix:///var/run/docker.sock", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 4, memoryOvercommit: 1, adoption: { namespaces: [demoNamespace] } },
    },
  ];
}

function manifests(): object[] {
  const vm = (name: string, spec: object) => ({ apiVersion: api, kind: "VirtualMachine", metadata: { name, namespace: demoNamespace, labels: { app: "demo" } }, spec });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: demoNamespace } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "omnivisor-system" } },
    // the status watcher reads Host credentials Secrets here, and only here (src/local/operator-rbac.yaml)
    watcherCredentialsBinding("omnivisor-system"),
    { apiVersion: api, kind: "Datacenter", metadata: { name: "local" }, spec: { displayName: "This machine", imageStore: { location: omnivisorImageStore() } } },
    { apiVersion: api, kind: "HostPool", metadata: { name: "local" }, spec: { datacenter: "local", hosts: ["local-libvirt", "local-docker"] } },
    ...hosts(),
    vm("tiny-vm", { cpus: 1, memory: "128Mi", disks: [{ name: "root", image: "tiny-vm" }], powerOff: { mode: "Hard", timeoutSeconds: 10 }, placement: { driver: "libvirt" } }),
    // busybox's shell ignores SIGTERM: a short deadline keeps a demo stop quick (TrySoft powers off after it).
    vm("box-1", { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "TrySoft", timeoutSeconds: 5 }, placement: { driver: "docker" } }),
    vm("box-2", { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "TrySoft", timeoutSeconds: 5 }, placement: { driver: "docker" } }),
  ];
}

/** What kubectl get -o json returns, as far as the settle check reads it. */
interface Listed {
  metadata: { name: string; namespace?: string; generation?: number };
  spec: { powerState?: string; datacenter?: string; pool?: string };
  status?: {
    phase?: string;
    host?: string;
    observedGeneration?: number;
    virtualMachines?: number | { managed?: number };
    conditions?: { type: string; status: string }[];
  };
}

const ready = (o: Listed): boolean => o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

/**
 * Why the fleet has not settled yet (empty when it has): every VM in the phase its spec asks for,
 * every Host Ready and counting the VMs placed on it, and each Datacenter's and HostPool's rollup
 * agreeing with the VMs on its hosts — so the first table `make run` prints agrees with itself.
 */
export function unsettled(vms: Listed[], hosts: Listed[], datacenters: Listed[], pools: Listed[]): string[] {
  const why: string[] = [];
  const on = (host: string): number => vms.filter((v) => v.status?.host === host).length;
  for (const vm of vms) {
    const want = vm.spec.powerState ?? "Running";
    const name = `${vm.metadata.namespace}/${vm.metadata.name}`;
    if (vm.status?.phase !== want) why.push(`VM ${name} is ${vm.status?.phase ?? "new"}, wants ${want}`);
    else if (vm.status.observedGeneration !== vm.metadata.generation) why.push(`VM ${name}: spec not yet observed`);
  }
  for (const h of hosts) {
    const counted = typeof h.status?.virtualMachines === "object" ? h.status.virtualMachines.managed : undefined;
    if (!ready(h)) why.push(`Host ${h.metadata.name} not Ready`);
    else if ((counted ?? 0) !== on(h.metadata.name)) why.push(`Host ${h.metadata.name} counts ${counted ?? 0} VMs, ${on(h.metadata.name)} placed`);
  }
  const rollup = (kind: string, o: Listed, members: Listed[]): void => {
    const placed = members.reduce((n, h) => n + on(h.metadata.name), 0);
    const counted = typeof o.status?.virtualMachines === "number" ? o.status.virtualMachines : 0;
    if (!ready(o)) why.push(`${kind} ${o.metadata.name} not Ready`);
    else if (counted !== placed) why.push(`${kind} ${o.metadata.name} counts ${counted} VMs, ${placed} placed`);
  };
  for (const dc of datacenters) rollup("Datacenter", dc, hosts.filter((h) => h.spec.datacenter === dc.metadata.name));
  for (const pool of pools) rollup("HostPool", pool, hosts.filter((h) => h.spec.pool === pool.metadata.name));
  return why;
}

export class LocalFleet {
  private readonly cp: ControlPlane;
  private readonly tools: Toolchain;
  private readonly processes: ManagedProcess[] = [];
  private readonly samples: boolean;
  private stopped = false;

  /** samples: apply the sample VMs (the first start only, so a user's deletions and edits stay). */
  constructor(cp: ControlPlane, tools: Toolchain, options: { samples: boolean }) {
    this.cp = cp;
    this.tools = tools;
    this.samples = options.samples;
  }

  /** A Node process of the product, logged in as the operator, or the status watcher's identity for status-watcher.ts. */
  private node(name: string, script: string, args: string[], nodeFlags: string[] = []): ManagedProcess {
    const supervise = existsSync(this.tools.supervise) ? this.tools.supervise : undefined;
    const kubeconfig = script === "status-watcher.ts" ? this.cp.kubeconfigs.statusWatcher : this.cp.kubeconfigs.operator;
    return new ManagedProcess({ name, command: process.execPath, args: [...nodeFlags, join(import.meta.dirname, script), "--kubeconfig", kubeconfig, ...args], logFile: join(this.cp.dir, "logs", `${name}.log`), ...(supervise ? { supervise } : {}) });
  }

  /**
   * The manager serves the VDCQuota webhook on loopback with a certificate from the control
   * plane's CA; the ValidatingWebhookConfiguration (failurePolicy Fail) is registered once it
   * answers, so the samples applied next are admitted by it.
   */
  private async startManager(): Promise<void> {
    const port = await freePort();
    const cert = await servingCert(this.cp.dir, "webhook", ["IP:127.0.0.1", "DNS:localhost"]);
    const manager = this.node("omnivisor-manager", "manager.ts", ["--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1",
      "--webhook-port", String(port), "--webhook-host", "127.0.0.1", "--webhook-cert-file", cert.cert, "--webhook-key-file", cert.key], managerNodeFlags());
    this.processes.push(manager);
    await manager.start();
    await waitFor("the manager's admission webhook to answer", () => tlsAnswers(port), { timeoutMs: 60_000, intervalMs: 200, onTimeout: () => manager.tail() });
    const config = quotaWebhookConfiguration({ name: "omnivisor-vdcquota", url: `https://127.0.0.1:${port}/validate-quota`, caFile: cert.ca });
    await this.kubectl(["apply", "-f", "-"], stringify(config));
  }

  kubectl(args: string[], input?: string): Promise<string> {
    const child = run(this.tools.kubectl, ["--kubeconfig", this.cp.kubeconfigs.admin, ...args], { maxBuffer: 16 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin?.end(input);
    return child.then((r) => r.stdout);
  }

  /**
   * Starts the operator and applies the local Datacenter, pool and Hosts (every start: `unchanged`
   * when kept), and the sample VMs on the first start. VMs an earlier run made are the operator's
   * to find again: nothing here touches a hypervisor.
   */
  async start(): Promise<void> {
    if (!this.stopped) await this.startManager();
    const watcher = this.node("omnivisor-status-watcher", "status-watcher.ts", ["--node", localNode(), "--lease-namespace", "omnivisor-system"]);
    this.processes.push(watcher);
    if (!this.stopped) await watcher.start();
    const wanted = manifests().filter((m) => this.samples || (m as { kind: string }).kind !== "VirtualMachine");
    await this.kubectl(["apply", "-f", "-"], wanted.map((m) => stringify(m)).join("---\n"));
  }

  /** Resolves once the fleet has settled (see unsettled), or after limitMs with what is still moving. */
  async waitSettled(signal: AbortSignal, limitMs = 180_000): Promise<string[]> {
    const until = Date.now() + limitMs;
    let why: string[] = ["not looked yet"];
    while (!signal.aborted) {
      why = await this.unsettled().catch((err: unknown) => [err instanceof Error ? err.message : String(err)]);
      if (why.length === 0 || Date.now() > until) return why;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error("aborted");
  }

  private async unsettled(): Promise<string[]> {
    const get = async (what: string): Promise<Listed[]> => (JSON.parse(await this.kubectl(["get", what, "-A", "-o", "json"])) as { items: Listed[] }).items;
    const [vms, hosts, dcs, pools] = await Promise.all(["virtualmachines.omnivisor.io", "hosts.omnivisor.io", "datacenters.omnivisor.io", "hostpools.omnivisor.io"].map(get));
    return unsettled(vms!, hosts!, dcs!, pools!);
  }

  /** make run-reset: every VApp and VirtualMachine deleted and gone (their VMs leave the hypervisors). */
  async deleteAllVms(): Promise<void> {
    await this.kubectl(["delete", "vapps.omnivisor.io,virtualmachines.omnivisor.io", "--all", "-A", "--wait=true", "--timeout=300s"]);
  }

  table(): Promise<string> {
    return this.kubectl(["get", "omnivisor", "-A"]);
  }

  /** Stops the operator and the status watcher; the VMs run on. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}

/** True once a TLS server accepts a handshake on 127.0.0.1:port. */
function tlsAnswers(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      socket.end();
      resolve(true);
    });
    socket.once("error", () => resolve(undefined));
  });
}
