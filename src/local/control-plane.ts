// A real Kubernetes control plane as local processes on loopback, the way controller-runtime's
// envtest runs one: etcd, kube-apiserver (RBAC, generated certificates, service-account keys)
// and kube-controller-manager (garbage collection, namespace deletion), plus kubeconfigs for an
// admin, the operator and kubectl. Used by the test suite and by `make run`.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { runKubectl } from "./kubectl.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { kubeRequest, type TlsClient } from "./kube-http.ts";
import { generatePki, type ClientIdentity, type Pki } from "./pki.ts";
import { freePort, portIsFree } from "./ports.ts";
import { ManagedProcess } from "./process.ts";
import { repoRoot, requireTools, toolchain, type Toolchain } from "./toolchain.ts";
import { waitFor } from "./wait.ts";

const run = promisify(execFile);

export interface ControlPlaneOptions {
  /**
   * Working directory (certificates, etcd data, logs, kubeconfigs). Default: a new temp dir. What
   * an earlier start left there is kept: the same certificates, ports and stored objects.
   */
  dir?: string;
  /** Start kube-controller-manager (garbage collection, namespace deletion). Default true. */
  controllerManager?: boolean;
  /** Directory of CRD manifests to install and wait for. Default: the repo's crds/. */
  crdsDir?: string | false;
  /** Remove the working directory on stop. Default: true for a temp dir, false otherwise. */
  removeOnStop?: boolean;
  /** Extra kube-apiserver flags (e.g. audit logging for request counting). */
  apiServerArgs?: string[];
  /** kube-apiserver --authorization-mode. Default "RBAC" (a cluster with kubelets adds "Node"). */
  authorizationMode?: string;
  /** kube-controller-manager --controllers. Default: garbage collection, namespaces, service accounts. */
  controllers?: string[];
  /** Client certificates to make besides the built-in ones (kubelet, kube-proxy, scheduler...). */
  extraClients?: ClientIdentity[];
  /** Apply the operator's and status watcher's RBAC (src/local/operator-rbac.yaml). Default true. */
  operatorRbac?: boolean;
  log?: (line: string) => void;
}

export interface Kubeconfigs {
  admin: string;
  /** The controller manager's identity (user omnivisor-operator). */
  operator: string;
  /** The status watchers' identity (user omnivisor-status-watcher): less than the manager's. */
  statusWatcher: string;
  controllerManager: string;
}

export class ControlPlane {
  readonly server: string;
  readonly etcdUrl: string;
  readonly kubeconfigs: Kubeconfigs;
  readonly admin: TlsClient;
  private readonly etcd: ManagedProcess;
  private readonly apiServer: ManagedProcess;
  private readonly controllerManager: ManagedProcess | undefined;

  readonly dir: string;
  readonly tools: Toolchain;
  private readonly pki: Pki;
  private readonly options: ControlPlaneOptions;

  private constructor(
    dir: string,
    tools: Toolchain,
    pki: Pki,
    ports: { api: number; etcdClient: number; etcdPeer: number },
    options: ControlPlaneOptions,
  ) {
    this.dir = dir;
    this.tools = tools;
    this.pki = pki;
    this.options = options;
    this.server = `https://127.0.0.1:${ports.api}`;
    this.etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    this.kubeconfigs = {
      admin: join(dir, "admin.kubeconfig"),
      operator: join(dir, "operator.kubeconfig"),
      statusWatcher: join(dir, "status-watcher.kubeconfig"),
      controllerManager: join(dir, "controller-manager.kubeconfig"),
    };
    const admin = pki.client("admin");
    this.admin = { server: this.server, ca: pki.caCert, cert: admin.cert, key: admin.key };
    const supervise = existsSync(tools.supervise) ? tools.supervise : undefined;
    const logs = join(dir, "logs");
    this.etcd = new ManagedProcess({
      name: "etcd",
      command: tools.etcd,
      supervise,
      logFile: join(logs, "etcd.log"),
      args: [
        "--name=default",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${this.etcdUrl}`,
        `--advertise-client-urls=${this.etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
        "--unsafe-no-fsync", // test data: durability across power loss does not matter, speed does
        "--log-level=warn",
      ],
    });
    this.apiServer = new ManagedProcess({
      name: "kube-apiserver",
      command: tools.kubeApiserver,
      supervise,
      logFile: join(logs, "kube-apiserver.log"),
      args: [
        `--etcd-servers=${this.etcdUrl}`,
        `--secure-port=${ports.api}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        `--authorization-mode=${options.authorizationMode ?? "RBAC"}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--allow-privileged=true",
        ...(options.apiServerArgs ?? []),
      ],
    });
    this.controllerManager =
      options.controllerManager === false
        ? undefined
        : new ManagedProcess({
            name: "kube-controller-manager",
            command: tools.kubeControllerManager,
            supervise,
            logFile: join(logs, "kube-controller-manager.log"),
            args: [
              `--kubeconfig=${this.kubeconfigs.controllerManager}`,
              `--controllers=${(options.controllers ?? DEFAULT_CONTROLLERS).join(",")}`,
              "--leader-elect=false",
              "--secure-port=0",
              `--service-account-private-key-file=${pki.serviceAccountKey}`,
              `--root-ca-file=${pki.caCert}`,
              "--use-service-account-credentials=false",
            ],
          });
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const tools = toolchain();
    requireTools(tools, ["etcd", "kubeApiserver", "kubectl", ...(options.controllerManager === false ? [] : ["kubeControllerManager" as const])]);
    const temp = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "omnivisor-cp-")));
    await mkdir(join(dir, "logs"), { recursive: true });
    const pki = await generatePki(dir, [
      { name: "admin", user: "omnivisor-admin", groups: ["system:masters"] },
      { name: "operator", user: "omnivisor-operator", groups: [] },
      { name: "status-watcher", user: "omnivisor-status-watcher", groups: [] },
      { name: "controller-manager", user: "system:kube-controller-manager", groups: ["system:masters"] },
      ...(options.extraClients ?? []),
    ]);
    const ports = await portsFor(dir);
    const cp = new ControlPlane(dir, tools, pki, ports, { removeOnStop: temp, ...options });
    try {
      await cp.writeKubeconfigs();
      await cp.startEtcd();
      await cp.startApiServer();
      await cp.bootstrap();
      if (cp.controllerManager) await cp.controllerManager.start();
      if (options.crdsDir !== false) await cp.installCrds(options.crdsDir ?? join(repoRoot, "crds"));
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async writeKubeconfigs(): Promise<void> {
    for (const [name, user] of [
      ["admin", "omnivisor-admin"],
      ["operator", "omnivisor-operator"],
      ["status-watcher", "omnivisor-status-watcher"],
      ["controller-manager", "system:kube-controller-manager"],
    ] as const) {
      const c = this.pki.client(name);
      const path = name === "controller-manager" ? this.kubeconfigs.controllerManager : name === "status-watcher" ? this.kubeconfigs.statusWatcher : this.kubeconfigs[name];
      await writeKubeconfig(path, { server: this.server, caFile: this.pki.caCert, certFile: c.cert, keyFile: c.key, user });
    }
  }

  async startEtcd(): Promise<void> {
    await this.etcd.start();
    await waitFor(
      "etcd to report healthy",
      async () => {
        if (!this.etcd.running) throw new Error(`etcd exited:\n${this.etcd.tail()}`);
        const res = await fetch(`${this.etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = (await res.json()) as { health?: string };
        return body.health === "true" ? true : undefined;
      },
      { timeoutMs: 30_000, onTimeout: () => this.etcd.tail() },
    );
    this.log(`etcd ready at ${this.etcdUrl}`);
  }

  async stopEtcd(): Promise<void> {
    await this.etcd.stop();
  }

  async startApiServer(): Promise<void> {
    await this.apiServer.start();
    await waitFor(
      "kube-apiserver /readyz",
      async () => {
        if (!this.apiServer.running) throw new Error(`kube-apiserver exited:\n${this.apiServer.tail()}`);
        const res = await kubeRequest(this.admin, "GET", "/readyz", undefined, 2_000);
        return res.status === 200 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, onTimeout: () => this.apiServer.tail() },
    );
    this.log(`kube-apiserver ready at ${this.server}`);
  }

  async stopApiServer(): Promise<void> {
    await this.apiServer.stop();
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  async restartEtcd(): Promise<void> {
    await this.stopEtcd();
    await this.startEtcd();
  }

  /** Runs the kubectl built for this Kubernetes version as the admin. */
  kubectl(args: string[], input?: string): Promise<string> {
    return runKubectl(this.tools.kubectl, this.kubeconfigs.admin, args, input);
  }

  /** Runs kubectl and returns its exit code and output instead of throwing on failure. */
  async kubectlResult(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(this.tools.kubectl, ["--kubeconfig", this.kubeconfigs.admin, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  }

  private async bootstrap(): Promise<void> {
    if (this.options.operatorRbac === false) return;
    await this.kubectl(["apply", "--server-side", "-f", join(import.meta.dirname, "operator-rbac.yaml")]);
  }

  /** Applies every CRD in dir and waits until discovery serves all of them. */
  async installCrds(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f));
    if (files.length === 0) return;
    await this.kubectl(["apply", "--server-side", "--force-conflicts", ...files.flatMap((f) => ["-f", f])]);
    const wanted = files.flatMap((f) => crdResources(readFileSync(f, "utf8")));
    await waitFor(
      `discovery to serve ${wanted.map((w) => `${w.plural}.${w.group}`).join(", ")}`,
      async () => {
        for (const w of wanted) {
          const res = await kubeRequest(this.admin, "GET", `/apis/${w.group}/${w.version}`);
          if (res.status !== 200) return undefined;
          const names = (JSON.parse(res.body) as { resources: { name: string }[] }).resources.map((r) => r.name);
          if (!names.includes(w.plural)) return undefined;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    this.log(`installed ${wanted.length} CRDs`);
  }

  /** Stops every process (controller manager, API server, etcd) and removes a temporary dir. */
  async stop(): Promise<void> {
    await this.controllerManager?.stop();
    await this.apiServer.stop();
    await this.etcd.stop();
    if (this.options.removeOnStop) await rm(this.dir, { recursive: true, force: true });
  }

  /** The last lines of one component's log, for failure messages. */
  logTail(component: "etcd" | "kube-apiserver" | "kube-controller-manager", lines = 30): string {
    const p = { etcd: this.etcd, "kube-apiserver": this.apiServer, "kube-controller-manager": this.controllerManager }[component];
    return p ? `--- ${component} log ---\n${p.tail(lines)}` : `${component} is not running`;
  }

  /** The cluster CA certificate (signs every client and serving certificate of this control plane). */
  get caCert(): string {
    return this.pki.caCert;
  }

  /** Certificate and key of a client identity made at start (built-in or from extraClients). */
  clientCredentials(name: string): { cert: string; key: string } {
    return this.pki.client(name);
  }

  /** Process ids of the running components (tests check nothing is left behind). */
  pids(): number[] {
    return [this.etcd, this.apiServer, this.controllerManager]
      .filter((p): p is ManagedProcess => p !== undefined && p.running)
      .map((p) => p.pid!)
      .filter((p) => p !== undefined);
  }
}

const DEFAULT_CONTROLLERS = [
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
];

type Ports = { api: number; etcdClient: number; etcdPeer: number };

/** The ports of an earlier start when kept and still free (kubeconfigs stay valid), else new ones. */
async function portsFor(dir: string): Promise<Ports> {
  const file = join(dir, "ports.json");
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, "utf8")) as Ports;
    if ((await Promise.all(Object.values(saved).map(portIsFree))).every(Boolean)) return saved;
  }
  const ports = { api: await freePort(), etcdClient: await freePort(), etcdPeer: await freePort() };
  writeFileSync(file, JSON.stringify(ports));
  return ports;
}

interface CrdResource {
  group: string;
  version: string;
  plural: string;
}

function crdResources(text: string): CrdResource[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string; spec?: { group: string; names: { plural: string }; versions: { name: string; served: boolean }[] } } | null)
    .filter((d) => d?.kind === "CustomResourceDefinition")
    .flatMap((d) =>
      d!.spec!.versions.filter((v) => v.served).map((v) => ({ group: d!.spec!.group, version: v.name, plural: d!.spec!.names.plural })),
    );
}
