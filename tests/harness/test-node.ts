// A real one-node Kubernetes cluster on this machine, for tests that run pods: its own control
// plane (src/local/control-plane.ts, with kube-scheduler and the kubelet-facing flags), containerd
// (own root, state and socket; dockerd's containerd is never touched), the bridge CNI network,
// the kubelet and kube-proxy. One node per machine at a time (a host-wide flock), and no pod
// traffic leaves the machine: before any pod starts, cni0 exists, the `kubernetes` Service IP is
// DNATed to the loopback API server and everything routed from cni0 to another interface is
// dropped. stop() restores the host; a crashed earlier node is cleaned up by the next start.
// Decisions: docs/adr/0030-one-node-test-cluster.md.
import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { writeKubeconfig } from "../../src/local/kubeconfig.ts";
import { kubeRequest } from "../../src/local/kube-http.ts";
import { servingCert } from "../../src/local/pki.ts";
import { ManagedProcess } from "../../src/local/process.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { cniConflist, containerdToml, KUBECTL_IMAGE, kubeletConfig, kubeProxyConfig, paths, schedulerConfig, TEST_IMAGE } from "./node-config.ts";
import { API_CHAIN, BRIDGE, EGRESS_CHAIN, NODE_RUN, NODE_STATE, NodeLock, POD_CIDR, POD_GATEWAY, recordHost, restoreHost, restoreKubeletTunables } from "./node-host.ts";

export { KUBECTL_IMAGE, TEST_IMAGE };
const run = promisify(execFile);

/** The `kubernetes` Service's ClusterIP in the control plane's --service-cluster-ip-range. */
export const KUBERNETES_SERVICE_IP = "10.0.0.1";

export interface TestNodeOptions {
  /** Node name; must resolve to a loopback address (the API server dials it). Default: the hostname. */
  name?: string;
  log?: (line: string) => void;
  /**
   * Called once this node holds the host (lock taken, an earlier node's leftovers cleaned up)
   * and before it changes anything: where a test snapshots the host it expects back after stop().
   */
  beforeSetup?: () => Promise<void>;
  /**
   * The host-wide lock, already held by the caller (a test that drives nodes in child processes
   * and must keep other nodes off between them). stop() leaves it held. Default: take it here.
   */
  hostLock?: NodeLock;
}

export interface TestNode {
  nodeName: string;
  /** Admin kubeconfig of the node's own control plane. */
  kubeconfig: string;
  server: string;
  controlPlane: ControlPlane;
  /** Imports a docker-save tarball into the node's containerd (namespace k8s.io). */
  importImage(dockerSaveTar: string): Promise<void>;
  /** Packets from pods dropped on their way out of the machine (the egress rule's counter). */
  egressDropped(): Promise<number>;
  /** Stops every component and restores the host. */
  stop(): Promise<void>;
}

const LOCK_WAIT_MS = 15 * 60_000;

/**
 * The docker-save tarballs scripts/node-images.sh builds (cached): the pause image, the busybox
 * test image (both imported at start) and a kubectl image (import it when a pod must call the API).
 */
export async function nodeImages(): Promise<{ pause: string; busybox: string; kubectl: string }> {
  const { stdout } = await run("bash", [join(repoRoot, "scripts", "node-images.sh")]);
  const found = Object.fromEntries(stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]));
  const { pause, busybox, kubectl } = found;
  if (!pause || !busybox || !kubectl) throw new Error(`scripts/node-images.sh printed no image paths:\n${stdout}`);
  return { pause, busybox, kubectl };
}

export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const log = options.log ?? (() => {});
  const nodeName = options.name ?? hostname();
  await requireLoopbackName(nodeName);
  const ownLock = options.hostLock === undefined;
  const lock = options.hostLock ?? (await NodeLock.acquire(LOCK_WAIT_MS, log));
  const node = new RunningNode(nodeName, ownLock ? lock : undefined, log, options.beforeSetup);
  try {
    await node.start();
  } catch (err) {
    await node.stop().catch((e: Error) => log(`cleanup after a failed start: ${e.message}`));
    throw err;
  }
  return node;
}

async function requireLoopbackName(name: string): Promise<void> {
  const addrs = await lookup(name, { all: true }).catch(() => []);
  if (!addrs.some((a) => a.address === "127.0.0.1" || a.address === "::1")) {
    throw new Error(
      `test node name "${name}" does not resolve to 127.0.0.1 (resolves to ${addrs.map((a) => a.address).join(", ") || "nothing"}): ` +
        "the API server reaches the kubelet (logs, exec) by the node's name, and the kubelet listens on 127.0.0.1 only",
    );
  }
}

class RunningNode implements TestNode {
  readonly nodeName: string;
  kubeconfig = "";
  server = "";
  controlPlane!: ControlPlane;
  /** Released by stop(); undefined when the caller holds the lock. */
  private readonly lock: NodeLock | undefined;
  private readonly log: (line: string) => void;
  private readonly tools = toolchain();
  private readonly bin = (name: string): string => join(this.tools.kubectl, "..", name);
  private processes: ManagedProcess[] = [];
  private containerd: ManagedProcess | undefined;
  private stopped = false;
  private readonly beforeSetup: (() => Promise<void>) | undefined;

  constructor(nodeName: string, lock: NodeLock | undefined, log: (line: string) => void, beforeSetup?: () => Promise<void>) {
    this.nodeName = nodeName;
    this.lock = lock;
    this.log = log;
    this.beforeSetup = beforeSetup;
  }

  async start(): Promise<void> {
    for (const tool of ["kubelet", "kube-proxy", "kube-scheduler"]) {
      if (!existsSync(this.bin(tool))) throw new Error(`missing ${this.bin(tool)} — run \`make tools\` (scripts/build-tools.sh) to build it`);
    }
    for (const cmd of ["containerd", "ctr", "runc", "conntrack", "/usr/lib/cni/bridge", "flock"]) {
      if (cmd.startsWith("/") ? !existsSync(cmd) : !(await run("sh", ["-c", `command -v ${cmd}`]).then(() => true, () => false))) {
        throw new Error(`missing ${cmd} — run \`make packages\` (scripts/install-packages.sh)`);
      }
    }
    // A crashed earlier node: put the host back first (it recorded the host before it started).
    if (existsSync(NODE_STATE) || existsSync(NODE_RUN)) this.log("cleaning up after an earlier test node");
    await restoreHost(this.log);
    await this.beforeSetup?.();
    await mkdir(NODE_STATE, { recursive: true });
    await mkdir(NODE_RUN, { recursive: true });
    recordHost();
    for (const [key, dir] of Object.entries(paths)) if (key !== "containerdSocket") await mkdir(dir, { recursive: true });

    const images = await nodeImages();

    await this.startControlPlane();
    await this.lockDownNetwork();
    await this.startContainerd();
    await this.importImage(images.pause);
    await this.importImage(images.busybox);
    await this.startNodeComponents();
    await this.waitReady();
    for (const line of restoreKubeletTunables()) this.log(`restored ${line}`);
  }

  private async startControlPlane(): Promise<void> {
    const dir = paths.controlPlane;
    this.controlPlane = await ControlPlane.start({
      dir,
      removeOnStop: false,
      crdsDir: false,
      operatorRbac: false, // a bare cluster: what gets installed into it (the chart) brings its own RBAC
      authorizationMode: "Node,RBAC",
      extraClients: [
        { name: "kubelet", user: `system:node:${this.nodeName}`, groups: ["system:nodes"] },
        { name: "kube-proxy", user: "system:kube-proxy", groups: [] },
        { name: "kube-scheduler", user: "system:kube-scheduler", groups: [] },
        { name: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: ["system:masters"] },
      ],
      controllers: [
        "garbage-collector-controller", "namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
        "root-ca-certificate-publisher-controller", "deployment-controller", "replicaset-controller", "daemonset-controller",
        "statefulset-controller", "job-controller", "disruption-controller", "endpoints-controller", "endpointslice-controller",
        "pod-garbage-collector-controller", "node-lifecycle-controller", "taint-eviction-controller", "ttl-controller",
      ],
      apiServerArgs: [
        `--kubelet-client-certificate=${join(dir, "apiserver-kubelet-client.crt")}`,
        `--kubelet-client-key=${join(dir, "apiserver-kubelet-client.key")}`,
        `--kubelet-certificate-authority=${join(dir, "ca.crt")}`,
        // The node's name resolves to 127.0.0.1, where the kubelet listens.
        "--kubelet-preferred-address-types=Hostname,InternalIP",
        "--enable-admission-plugins=NodeRestriction",
      ],
      log: this.log,
    });
    this.kubeconfig = this.controlPlane.kubeconfigs.admin;
    this.server = this.controlPlane.server;
  }

  /** Before any pod exists: cni0 with route_localnet, the API server DNAT, the egress drop. */
  private async lockDownNetwork(): Promise<void> {
    const apiPort = new URL(this.server).port;
    await run("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    await run("ip", ["addr", "add", `${POD_GATEWAY}/${POD_CIDR.split("/")[1]}`, "dev", BRIDGE]);
    await run("ip", ["link", "set", BRIDGE, "up"]);
    // Per-interface (vanishes with cni0): lets the DNATed packets reach 127.0.0.1 and the replies
    // from 127.0.0.1 go out to the pods.
    await writeFile(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, "1\n");
    const ipt = (tool: string, args: string[]): Promise<unknown> => run(tool, ["-w", "5", ...args]);
    await ipt("iptables", ["-t", "nat", "-N", API_CHAIN]);
    await ipt("iptables", ["-t", "nat", "-A", API_CHAIN, "-d", `${KUBERNETES_SERVICE_IP}/32`, "-p", "tcp", "--dport", "443",
      "-m", "comment", "--comment", "omnivisor test node: the kubernetes Service is the loopback API server",
      "-j", "DNAT", "--to-destination", `127.0.0.1:${apiPort}`]);
    await ipt("iptables", ["-t", "nat", "-I", "PREROUTING", "1", "-i", BRIDGE, "-j", API_CHAIN]);
    // mangle FORWARD runs before every filter FORWARD rule (docker's, kube-proxy's accepts), after
    // the routing decision and before the packet is sent: anything from a pod that would be
    // routed out of any other interface ends here.
    for (const tool of ["iptables", "ip6tables"]) {
      await ipt(tool, ["-t", "mangle", "-N", EGRESS_CHAIN]);
      await ipt(tool, ["-t", "mangle", "-A", EGRESS_CHAIN, "-m", "comment", "--comment", "omnivisor test node: pod traffic never leaves the machine", "-j", "DROP"]);
      await ipt(tool, ["-t", "mangle", "-I", "FORWARD", "1", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", EGRESS_CHAIN]);
    }
    await writeFile(join(paths.cniConfDir, "10-omnivisor.conflist"), cniConflist());
    this.log(`network locked down: ${BRIDGE} ${POD_CIDR}, ${KUBERNETES_SERVICE_IP}:443 → 127.0.0.1:${apiPort}, egress dropped`);
  }

  private spawnComponent(name: string, command: string, args: string[]): ManagedProcess {
    const p = new ManagedProcess({ name, command, args, logFile: join(paths.logs, `${name}.log`), supervise: this.tools.supervise });
    this.processes.push(p);
    return p;
  }

  private async startContainerd(): Promise<void> {
    const config = join(NODE_STATE, "containerd.toml");
    await writeFile(config, containerdToml());
    this.containerd = new ManagedProcess({
      name: "containerd",
      command: "containerd",
      args: ["--config", config, "--log-level", "warn"],
      logFile: join(paths.logs, "containerd.log"),
      supervise: this.tools.supervise,
    });
    await this.containerd.start();
    const up = await waitFor(
      "containerd to answer",
      async () => {
        if (!this.containerd!.running) return "exited";
        await this.ctr(["version"]);
        return "up";
      },
      { timeoutMs: 30_000, intervalMs: 100, onTimeout: () => this.containerd!.tail() },
    );
    if (up === "exited") throw new Error(`containerd exited:\n${this.containerd.tail()}`);
  }

  private ctr(args: string[]): Promise<{ stdout: string }> {
    return run("ctr", ["--address", paths.containerdSocket, ...args], { maxBuffer: 16 << 20 });
  }

  async importImage(dockerSaveTar: string): Promise<void> {
    await this.ctr(["-n", "k8s.io", "images", "import", dockerSaveTar]);
    this.log(`imported ${dockerSaveTar}`);
  }

  private async startNodeComponents(): Promise<void> {
    const cp = this.controlPlane;
    const kubeconfig = async (name: string, user: string): Promise<string> => {
      const c = cp.clientCredentials(name);
      const path = join(paths.certs, `${name}.kubeconfig`);
      await writeKubeconfig(path, { server: cp.server, caFile: cp.caCert, certFile: c.cert, keyFile: c.key, user });
      return path;
    };
    const serving = await servingCert(paths.controlPlane, "kubelet-serving", [`DNS:${this.nodeName}`, "IP:127.0.0.1"]);
    const kubeletConf = join(paths.certs, "kubelet.yaml");
    await writeFile(kubeletConf, kubeletConfig({ caCert: cp.caCert, servingCert: serving.cert, servingKey: serving.key }));
    const proxyConf = join(paths.certs, "kube-proxy.yaml");
    await writeFile(proxyConf, kubeProxyConfig({ kubeconfig: await kubeconfig("kube-proxy", "system:kube-proxy"), nodeName: this.nodeName }));
    const schedConf = join(paths.certs, "kube-scheduler.yaml");
    await writeFile(schedConf, schedulerConfig({ kubeconfig: await kubeconfig("kube-scheduler", "system:kube-scheduler") }));
    const kubeletKubeconfig = await kubeconfig("kubelet", `system:node:${this.nodeName}`);

    await this.spawnComponent("kube-proxy", this.bin("kube-proxy"), [`--config=${proxyConf}`]).start();
    await this.spawnComponent("kube-scheduler", this.bin("kube-scheduler"), [`--config=${schedConf}`, "--secure-port=0"]).start();
    await this.spawnComponent("kubelet", this.bin("kubelet"), [
      `--config=${kubeletConf}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--hostname-override=${this.nodeName}`,
    ]).start();
  }

  private async waitReady(): Promise<void> {
    const admin = this.controlPlane.admin;
    const ready = await waitFor(
      `node ${this.nodeName} Ready`,
      async () => {
        const exited = this.processes.find((p) => !p.running);
        if (exited) return exited;
        const res = await kubeRequest(admin, "GET", `/api/v1/nodes/${this.nodeName}`);
        if (res.status !== 200) return undefined;
        const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? "ready" : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, onTimeout: () => this.processes.map((p) => `--- ${p.spec.name} ---\n${p.tail(15)}`).join("\n") },
    );
    if (ready !== "ready") throw new Error(`${ready.spec.name} exited:\n${ready.tail(30)}`);
    // Pods in `default` need its service account and the kube-root-ca.crt ConfigMap.
    await waitFor("the default service account and kube-root-ca.crt", async () => {
      const sa = await kubeRequest(admin, "GET", "/api/v1/namespaces/default/serviceaccounts/default");
      const cm = await kubeRequest(admin, "GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt");
      return sa.status === 200 && cm.status === 200 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    this.log(`node ${this.nodeName} Ready`);
  }

  async egressDropped(): Promise<number> {
    const { stdout } = await run("iptables", ["-w", "5", "-t", "mangle", "-L", EGRESS_CHAIN, "-n", "-v", "-x"]);
    const rule = stdout.split("\n").find((l) => /\bDROP\b/.test(l));
    if (!rule) throw new Error(`no DROP rule in mangle ${EGRESS_CHAIN}:\n${stdout}`);
    return Number(rule.trim().split(/\s+/)[0]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      // The kubelet first (it would restart what we kill), then every pod's containers through
      // containerd (else runc shims outlive it), then containerd, kube-proxy's rules, the rest.
      const t0 = Date.now();
      const step = (what: string): void => this.log(`stop: ${what} (${Date.now() - t0} ms)`);
      const kubelet = this.processes.find((p) => p.spec.name === "kubelet");
      await kubelet?.stop();
      step("kubelet stopped");
      if (this.containerd?.running) await this.killPods();
      step("pods killed");
      await this.containerd?.stop();
      step("containerd stopped");
      for (const p of this.processes) await p.stop();
      await run(this.bin("kube-proxy"), ["--cleanup"]).catch((e: Error) => this.log(`kube-proxy --cleanup: ${e.message}`));
      step("kube-proxy cleaned up");
      await this.controlPlane?.stop();
      step("control plane stopped");
      await restoreHost(this.log);
      step("host restored");
    } finally {
      await this.lock?.release();
    }
  }

  private async killPods(): Promise<void> {
    const list = async (): Promise<{ id: string; status: string }[]> => {
      const { stdout } = await this.ctr(["-n", "k8s.io", "tasks", "ls"]).catch(() => ({ stdout: "" }));
      return stdout.split("\n").slice(1).filter(Boolean).map((l) => {
        const [id, , status] = l.trim().split(/\s+/);
        return { id: id!, status: status ?? "" };
      });
    };
    const tasks = await list();
    for (const t of tasks) await this.ctr(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", t.id]).catch(() => undefined);
    // containerd's CRI deletes a task once it has exited; one it has not yet is deleted here.
    await waitFor("containerd's k8s.io tasks to be gone", async () => {
      const left = await list();
      for (const t of left.filter((t) => t.status === "STOPPED")) await this.ctr(["-n", "k8s.io", "tasks", "delete", t.id]).catch(() => undefined);
      return left.length === 0 ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50 }).catch((e: Error) => this.log(e.message));
    if (tasks.length > 0) this.log(`killed ${tasks.length} containerd tasks`);
  }

}
