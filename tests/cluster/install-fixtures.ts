// What the install scenario and its benchmark share: the operator image imported into the test
// node, the host's libvirtd and dockerd made reachable from pods (TCP on the cni0 gateway, which
// never leaves the machine), the chart installed with helm, and readers of pods and Leases.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { runKubectl } from "../../src/local/kubectl.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { dockerSocket } from "../harness/services.ts";
import { chartDir, helm } from "../install/helm.ts";

const run = promisify(execFile);
export const api = "omnivisor.io/v1alpha1";
export const libvirtSocket = "/var/run/libvirt/libvirt-sock";

export function kubectlOn(kubeconfig: string): (args: string[], input?: string) => Promise<string> {
  return (args, input) => runKubectl(toolchain().kubectl, kubeconfig, args, input);
}

/** The operator image as `make image` builds it (rebuilt each time: the code under test). */
export async function buildImage(): Promise<{ tar: string; tag: string; version: string }> {
  const version = (JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
  try {
    await run("bash", [join(repoRoot, "scripts", "build-image.sh")], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`make image failed: ${e.stderr?.trim() || e.message}`);
  }
  const tar = join(toolchain().cache, "images", `omnivisor-${version}.tar`);
  if (!existsSync(tar)) throw new Error(`make image wrote no ${tar}`);
  return { tar, tag: `omnivisor/operator:${version}`, version };
}

/** The IPv4 address of the node's bridge (cni0): pods reach the host there, on the machine itself. */
export function bridgeAddress(name = "cni0"): string {
  const address = networkInterfaces()[name]?.find((a) => a.family === "IPv4")?.address;
  if (!address) throw new Error(`the test node has no ${name} bridge with an IPv4 address: pods could not reach the host's services`);
  return address;
}

/** A TCP listener on `host` that joins every connection to a unix socket (a daemon's socket, seen from pods). */
export class SocketForward {
  private readonly server: Server;
  private readonly open: Set<Socket>;
  readonly port: number;

  private constructor(server: Server, open: Set<Socket>, port: number) {
    this.server = server;
    this.open = open;
    this.port = port;
  }

  static async start(host: string, socketPath: string): Promise<SocketForward> {
    const open = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = createConnection(socketPath);
      for (const s of [client, upstream]) {
        open.add(s);
        s.on("close", () => open.delete(s));
        s.on("error", () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, resolve);
    });
    return new SocketForward(server, open, (server.address() as AddressInfo).port);
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The Datacenter, pool and the node's two Hosts: libvirtd and dockerd of this machine, bound to the node. */
export function fleet(prefix: string, nodeName: string, endpoints: { libvirt: string; docker: string }): object[] {
  const host = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
    apiVersion: api,
    kind: "Host",
    metadata: { name, annotations },
    spec: { datacenter: `${prefix}-dc`, node: nodeName, cpuOvercommit: 8, ...spec },
  });
  return [
    { apiVersion: api, kind: "Datacenter", metadata: { name: `${prefix}-dc` }, spec: { imageStore: { location: omnivisorImageStore() } } },
    // TCG: this kind of machine's /dev/kvm cannot boot a stock guest (ADR 0003).
    host(`${prefix}-libvirt`, { driver: "libvirt", endpoint: endpoints.libvirt }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
    host(`${prefix}-docker`, { driver: "docker", endpoint: endpoints.docker }),
    { apiVersion: api, kind: "HostPool", metadata: { name: `${prefix}-pool` }, spec: { datacenter: `${prefix}-dc`, hosts: [`${prefix}-libvirt`, `${prefix}-docker`] } },
  ];
}

export const libvirtVm = (name: string, namespace: string, host: string) => ({
  apiVersion: api,
  kind: "VirtualMachine",
  metadata: { name, namespace },
  spec: { cpus: 1, memory: "128Mi", disks: [{ name: "root", image: "tiny-vm" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 10 }, placement: { hosts: [host] } },
});

export const dockerVm = (name: string, namespace: string, host: string) => ({
  apiVersion: api,
  kind: "VirtualMachine",
  metadata: { name, namespace },
  spec: { cpus: 1, memory: "32Mi", disks: [{ name: "root", image: "busybox:local" }], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts: [host] } },
});

export { chartDir, dockerSocket, helm };

/** `helm install|upgrade` of the chart into the test node, the image as imported, --wait. */
export async function helmInstall(verb: "install" | "upgrade", o: { kubeconfig: string; release: string; namespace: string; tag: string; set?: Record<string, string> }): Promise<string> {
  const [repository, tag] = o.tag.split(":") as [string, string];
  const sets = Object.entries({ "image.repository": repository, "image.tag": tag, ...o.set }).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  return helm([verb, o.release, chartDir, "--kubeconfig", o.kubeconfig, "--namespace", o.namespace, ...(verb === "install" ? ["--create-namespace"] : []), "--wait", "--timeout", "5m", ...sets]);
}

export interface PodInfo {
  name: string;
  ready: boolean;
  phase: string;
  deleting: boolean;
  restarts: number;
  node: string;
}

export async function pods(kubeconfig: string, namespace: string, component: string): Promise<PodInfo[]> {
  const out = await kubectlOn(kubeconfig)(["get", "pods", "-n", namespace, "-l", `app.kubernetes.io/component=${component}`, "-o", "json"]);
  const items = (JSON.parse(out) as { items: { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string }; status: { phase: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] } }[] }).items;
  return items.map((p) => ({
    name: p.metadata.name,
    phase: p.status.phase,
    deleting: Boolean(p.metadata.deletionTimestamp),
    ready: p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    restarts: p.status.containerStatuses?.[0]?.restartCount ?? 0,
    node: p.spec.nodeName ?? "",
  }));
}

export async function leaseHolder(kubeconfig: string, namespace: string, name: string): Promise<string | undefined> {
  const out = await kubectlOn(kubeconfig)(["get", "leases.coordination.k8s.io", name, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}", "--ignore-not-found"]);
  return out.trim() || undefined;
}

/** The host pid of the container process whose environment says POD_NAME=pod (the manager's node process). */
export async function podProcess(pod: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const env = await readFile(`/proc/${entry}/environ`).catch(() => undefined);
    if (!env?.toString("utf8").split("\0").includes(`POD_NAME=${pod}`)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes("/app/src/cmd/")) return Number(entry);
  }
  throw new Error(`no process of pod ${pod} on this machine`);
}

/** Waits until exactly one of the pods holds the Lease; resolves its name. */
export async function waitForLeader(kubeconfig: string, namespace: string, lease: string, among: () => Promise<string[]>, timeoutMs = 60_000): Promise<string> {
  return waitFor(`one manager holding the Lease ${lease}`, async () => {
    const holder = await leaseHolder(kubeconfig, namespace, lease);
    return holder && (await among()).includes(holder) ? holder : undefined;
  }, { timeoutMs, intervalMs: 100 });
}
