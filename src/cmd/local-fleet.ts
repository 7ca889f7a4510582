// What `make run` adds to the local control plane: the local libvirtd and dockerd as Host
// objects, the operator and the status watcher as child processes, and a few sample VMs. On stop
// the sample VMs are removed from the hypervisors through the drivers themselves, so a Ctrl-C
// that also reached the operator (same terminal, same process group) leaves nothing behind.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { HostObject } from "../fleet/kinds.ts";
import { Drivers, connectHost } from "../fleet/sessions.ts";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import type { ControlPlane } from "../local/control-plane.ts";
import { ManagedProcess } from "../local/process.ts";
import { servingCert } from "../local/pki.ts";
import { freePort } from "../local/ports.ts";
import type { Toolchain } from "../local/toolchain.ts";
import { waitFor } from "../local/wait.ts";
import { quotaWebhookConfiguration } from "../local/webhook-config.ts";
import { connect } from "node:tls";
import { managerNodeFlags } from "./manager-node.ts";
import type { CoreV1Api } from "@kubernetes/client-node";

const run = promisify(execFile);
export const demoNamespace = "omnivisor-demo";
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
      spec: { datacenter: "local", pool: "local", node: localNode(), driver: "libvirt", endpoint: "qemu:///system", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 4, memoryOvercommit: 1 },
    },
    {
      apiVersion: api,
      kind: "Host",
      metadata: { name: "local-docker" },
      spec: { datacenter: "local", pool: "local", node: localNode(), driver: "docker", endpoint: "unix:///var/run/docker.sock", maintenance: false, drainPolicy: "Migrate", cpuOvercommit: 4, memoryOvercommit: 1 },
    },
  ];
}

function manifests(): object[] {
  const vm = (name: string, spec: object) => ({ apiVersion: api, kind: "VirtualMachine", metadata: { name, namespace: demoNamespace, labels: { app: "demo" } }, spec });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: demoNamespace } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "omnivisor-system" } },
    { apiVersion: api, kind: "Datacenter", metadata: { name: "local" }, spec: { displayName: "This machine", imageStore: { location: omnivisorImageStore() } } },
    { apiVersion: api, kind: "HostPool", metadata: { name: "local" }, spec: { datacenter: "local", hosts: ["local-libvirt", "local-docker"] } },
    ...hosts(),
    vm("tiny-vm", { cpus: 1, memory: "128Mi", disks: [{ name: "root", image: "tiny-vm" }], powerOff: { mode: "Hard", timeoutSeconds: 10 }, placement: { driver: "libvirt" } }),
    // busybox's shell ignores SIGTERM: a short deadline keeps a demo stop quick (TrySoft powers off after it).
    vm("box-1", { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "TrySoft", timeoutSeconds: 5 }, placement: { driver: "docker" } }),
    vm("box-2", { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "TrySoft", timeoutSeconds: 5 }, placement: { driver: "docker" } }),
  ];
}

export class LocalFleet {
  private readonly cp: ControlPlane;
  private readonly tools: Toolchain;
  private readonly processes: ManagedProcess[] = [];
  private stopped = false;

  constructor(cp: ControlPlane, tools: Toolchain) {
    this.cp = cp;
    this.tools = tools;
  }

  private node(name: string, script: string, args: string[], nodeFlags: string[] = []): ManagedProcess {
    const supervise = existsSync(this.tools.supervise) ? this.tools.supervise : undefined;
    return new ManagedProcess({ name, command: process.execPath, args: [...nodeFlags, join(import.meta.dirname, script), "--kubeconfig", this.cp.kubeconfigs.operator, ...args], logFile: join(this.cp.dir, "logs", `${name}.log`), ...(supervise ? { supervise } : {}) });
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

  /** Removes sample VMs a previous run left on the hypervisors, starts the operator, applies the samples. */
  async start(): Promise<void> {
    await this.removeSampleVms();
    if (!this.stopped) await this.startManager();
    const watcher = this.node("omnivisor-status-watcher", "status-watcher.ts", ["--node", localNode(), "--lease-namespace", "omnivisor-system"]);
    this.processes.push(watcher);
    if (!this.stopped) await watcher.start();
    await this.kubectl(["apply", "-f", "-"], manifests().map((m) => stringify(m)).join("---\n"));
  }

  /** Resolves once every sample VM is Running (or rejects when the signal aborts). */
  async waitRunning(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const out = await this.kubectl(["get", "virtualmachines.omnivisor.io", "-n", demoNamespace, "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}"]).catch(() => "");
      const phases = out.split("\n").filter(Boolean);
      if (phases.length === 3 && phases.every((p) => p === "Running")) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error("aborted");
  }

  table(): Promise<string> {
    return this.kubectl(["get", "omnivisor", "-A"]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.processes.map((p) => p.stop()));
    await this.removeSampleVms();
  }

  /** Straight through the drivers: the sample namespace's VMs on the local hosts. */
  private async removeSampleVms(): Promise<void> {
    const drivers = new Drivers();
    const noSecrets = {} as CoreV1Api; // never called: the local hosts have no credentials Secret
    for (const host of hosts()) {
      const session = await connectHost(drivers, noSecrets, host, AbortSignal.timeout(15_000)).catch(() => undefined);
      if (!session) continue;
      try {
        for (const vm of await session.listVms()) {
          if (vm.identity?.namespace === demoNamespace) await session.deleteVm(vm.identity).catch(() => undefined);
        }
      } finally {
        await session.close();
      }
    }
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
