// The world `make chaos` works in: its own control plane, a namespace and Hosts labelled for the
// run (the manager serves only those: --host-selector), the local libvirtd (qemu:///system), the
// local dockerd and a private vcsim; the manager as a process it can kill -9; and a census of what
// the hypervisors themselves hold, read through the drivers (listVms: every VM with the uid it
// carries) and, for libvirt's disks, the default pool's volumes (`<uid>-<disk>.qcow2`).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Credentials, HostConnection, Session, VmObservation } from "../../drivers/contract/index.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { defaultPoolName, LibvirtDriver, omnivisorImageStore } from "../../drivers/libvirt/index.ts";
import { managerNodeFlags } from "../../src/cmd/manager-node.ts";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { repoRoot } from "../../src/local/toolchain.ts";
import { anyCredentials, govc, pinnedHost, PrivateVcsim } from "../../tests/drivers/esxi-vcsim.ts";
import { dockerSocket, libvirtUri } from "../../tests/harness/services.ts";

const run = promisify(execFile);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Every run's namespace starts with this; hypervisor names are `<namespace>.<name>`. */
export const runPrefix = "chaos-";
export const drivers = ["libvirt", "docker", "esxi"] as const;
export type ChaosDriver = (typeof drivers)[number];

export interface Target {
  driver: ChaosDriver | "libvirt-private" | "docker-private";
  connection: HostConnection;
  credentials?: Credentials;
}

/** A manager process whose output goes to `log`. */
export interface Manager {
  child: ChildProcess;
  exited: Promise<void>;
}

export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export interface VmStatusView {
  name: string;
  uid: string;
  generation: number;
  spec: { cpus?: number; memory?: string };
  status?: { phase?: string; observedGeneration?: number; host?: string; powerState?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export class World {
  readonly id = randomBytes(3).toString("hex");
  readonly ns = `${runPrefix}${this.id}`;
  readonly dc = `${runPrefix}${this.id}-dc`;
  readonly esxiImage = `${runPrefix}${this.id}-tiny`;
  readonly label = `omnivisor.io/scenario=${this.ns}`;
  /** Every VirtualMachine uid this run made: a libvirt volume or hypervisor VM carrying one whose VirtualMachine is gone is an orphan. */
  readonly uids = new Set<string>();
  readonly targets: Target[] = [];
  private readonly sessions = new Map<string, Session>();

  readonly cp: ControlPlane;
  readonly vcsim: PrivateVcsim;
  readonly log: string;

  private constructor(cp: ControlPlane, vcsim: PrivateVcsim, log: string) {
    this.cp = cp;
    this.vcsim = vcsim;
    this.log = log;
  }

  static async start(log: string): Promise<World> {
    const cp = await ControlPlane.start({ controllerManager: false });
    const vcsim = await PrivateVcsim.start();
    const w = new World(cp, vcsim, log);
    try {
      await w.setUp();
    } catch (err) {
      await w.stop();
      throw err;
    }
    return w;
  }

  private async setUp(): Promise<void> {
    const esxi = await pinnedHost(this.vcsim.url);
    this.targets.push({ driver: "libvirt", connection: { endpoint: libvirtUri } }, { driver: "docker", connection: { endpoint: `unix://${dockerSocket}` } }, { driver: "esxi", connection: esxi, credentials: anyCredentials });
    await govc(this.vcsim.url, ["datastore.mkdir", "-p", "omnivisor-images"]);
    await govc(this.vcsim.url, ["datastore.disk.create", "-size", "10M", `omnivisor-images/${this.esxiImage}.vmdk`]);
    await this.kubectl(["create", "namespace", this.ns]);
    await this.apply([
      { apiVersion: "v1", kind: "Secret", metadata: { name: "esxi", namespace: this.ns }, stringData: { username: anyCredentials.username!, password: anyCredentials.password!, thumbprint: esxi.tls!.thumbprint! } },
      {
        apiVersion: "omnivisor.io/v1alpha1",
        kind: "Datacenter",
        metadata: { name: this.dc },
        spec: { imageStore: { location: omnivisorImageStore() }, images: [{ name: "tiny", sources: { libvirt: "tiny-vm", docker: "busybox:local", esxi: this.esxiImage } }] },
      },
      this.host("libvirt", "libvirt", { endpoint: libvirtUri }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
      this.host("docker", "docker", { endpoint: `unix://${dockerSocket}` }),
      this.host("esxi", "esxi", { endpoint: esxi.endpoint, credentialsSecretRef: { name: "esxi", namespace: this.ns } }),
    ]);
  }

  host(suffix: string, driver: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): object {
    return {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "Host",
      metadata: { name: `${this.ns}-${suffix}`, labels: { "omnivisor.io/scenario": this.ns }, annotations },
      spec: { datacenter: this.dc, driver, cpuOvercommit: 16, memoryOvercommit: 4, ...spec },
    };
  }

  kubectl(args: string[], input?: string): Promise<string> {
    return this.cp.kubectl(args, input);
  }

  async apply(objects: object[]): Promise<void> {
    await this.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], objects.map((o) => JSON.stringify(o)).join("\n---\n"));
  }

  /** A VirtualMachine of this run on `driver` (its Datacenter's placement picks the run's Host of that driver). */
  vm(name: string, driver: string, cpus = 1, memory = "128Mi"): object {
    return {
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name, namespace: this.ns },
      // libvirt guests without a NIC: a private libvirtd has no network "default"
      spec: { powerState: "Running", cpus, memory, powerOff: { mode: "Hard", timeoutSeconds: 5 }, disks: [{ name: "root", image: "tiny" }], ...(driver.startsWith("libvirt") ? { networks: [] } : {}), placement: { hosts: [`${this.ns}-${driver}`] } },
    };
  }

  /** The manager as the RBAC-limited operator identity, serving this run's namespace and Hosts. */
  startManager(extra: string[] = [], kubeconfig = this.cp.kubeconfigs.operator): Manager {
    const out = openSync(this.log, "a");
    const child = spawn(
      process.execPath,
      [...managerNodeFlags(), join(repoRoot, "src", "cmd", "manager.ts"), "--kubeconfig", kubeconfig, "--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", this.ns, "--watch-namespace", this.ns, "--host-selector", this.label, ...extra],
      { stdio: ["ignore", out, out] },
    );
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return { child, exited };
  }

  async kill(m: Manager, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill(signal);
    await m.exited;
  }

  async vms(): Promise<VmStatusView[]> {
    const out = JSON.parse(await this.kubectl(["get", "virtualmachines.omnivisor.io", "-n", this.ns, "-o", "json"])) as { items: { metadata: { name: string; uid: string; generation: number }; spec: VmStatusView["spec"]; status?: VmStatusView["status"] }[] };
    const views = out.items.map((o) => ({ name: o.metadata.name, uid: o.metadata.uid, generation: o.metadata.generation, spec: o.spec, ...(o.status ? { status: o.status } : {}) }));
    for (const v of views) this.uids.add(v.uid);
    return views;
  }

  async waitHostsReady(names: string[]): Promise<void> {
    for (const h of names) await this.kubectl(["wait", "--for=condition=Ready", `hosts.omnivisor.io/${h}`, "--timeout=180s"]);
  }

  private async session(t: Target): Promise<Session> {
    const key = `${t.driver} ${t.connection.endpoint}`;
    let s = this.sessions.get(key);
    if (!s) {
      const driver = t.driver.startsWith("libvirt") ? new LibvirtDriver() : t.driver.startsWith("docker") ? new DockerDriver() : new EsxiDriver();
      s = await driver.connect(t.connection, t.credentials, AbortSignal.timeout(30_000));
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Forgets a target's session (its daemon restarted): the next census connects again. */
  async forget(t: Target): Promise<void> {
    const key = `${t.driver} ${t.connection.endpoint}`;
    await this.sessions.get(key)?.close().catch(() => undefined);
    this.sessions.delete(key);
  }

  /** This run's VMs on every target (or `only` that one), as the hypervisors list them. */
  async hypervisorVms(only?: Target): Promise<(VmObservation & { target: string })[]> {
    const all: (VmObservation & { target: string })[] = [];
    for (const t of only ? [only] : this.targets) {
      let list: VmObservation[];
      try {
        list = await (await this.session(t)).listVms();
      } catch {
        await this.forget(t);
        list = await (await this.session(t)).listVms();
      }
      for (const v of list) if (v.name.startsWith(`${this.ns}.`)) all.push({ ...v, target: t.driver });
    }
    return all;
  }

  /** Volumes in the default pool of qemu:///system named for a uid this run made. */
  async volumes(): Promise<{ name: string; uid: string }[]> {
    const { stdout } = await run("virsh", ["-q", "-c", libvirtUri, "vol-list", defaultPoolName], { timeout: 60_000 });
    const names = stdout.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter(Boolean);
    const out: { name: string; uid: string }[] = [];
    for (const name of names) {
      const uid = name.slice(0, 36);
      if (this.uids.has(uid)) out.push({ name, uid });
    }
    return out;
  }

  /**
   * Duplicates: a uid carried by more than one hypervisor VM (or a hypervisor name held twice).
   * Orphans: a hypervisor VM of this run, or a disk volume of one of its uids, whose VirtualMachine
   * is gone (or that carries no uid at all).
   */
  async census(): Promise<{ vms: number; duplicates: string[]; orphans: string[]; byUid: Map<string, (VmObservation & { target: string })[]> }> {
    const live = new Set((await this.vms()).map((v) => v.uid));
    const found = await this.hypervisorVms();
    const byUid = new Map<string, (VmObservation & { target: string })[]>();
    const byName = new Map<string, number>();
    const orphans: string[] = [];
    for (const v of found) {
      byName.set(`${v.target}/${v.name}`, (byName.get(`${v.target}/${v.name}`) ?? 0) + 1);
      const uid = v.identity?.uid;
      if (!uid || !live.has(uid)) orphans.push(`${v.target}/${v.name} (uid ${uid ?? "none"})`);
      if (uid) byUid.set(uid, [...(byUid.get(uid) ?? []), v]);
    }
    for (const vol of await this.volumes()) if (!live.has(vol.uid)) orphans.push(`libvirt volume ${vol.name}`);
    const twice = [...byUid.entries()].filter(([, vs]) => vs.length > 1);
    // a name held twice by copies of one uid is that duplicate, not another one
    const covered = new Set(twice.flatMap(([, vs]) => vs.map((v) => `${v.target}/${v.name}`)));
    const duplicates = [
      ...twice.map(([uid, vs]) => `uid ${uid} held by ${vs.length} VMs: ${vs.map((v) => `${v.target}/${v.name} (${v.externalId})`).join(", ")}`),
      ...[...byName.entries()].filter(([name, n]) => n > 1 && !covered.has(name)).map(([name, n]) => `name ${name} held by ${n} VMs`),
    ];
    return { vms: found.length, duplicates, orphans, byUid };
  }

  /** Deletes, through the drivers, every VM a chaos run (this one or an earlier one) left on the shared hypervisors. */
  async removeLeftovers(): Promise<number> {
    let removed = 0;
    for (const t of this.targets) {
      if (t.driver === "esxi") continue; // the private vcsim goes with the run
      const s = await this.session(t);
      for (const v of await s.listVms()) {
        if (!v.name.startsWith(runPrefix)) continue;
        await s.deleteVm(v.identity ?? { uid: `none-${v.externalId}`, name: v.name, externalId: v.externalId }).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }

  async stop(): Promise<void> {
    for (const s of this.sessions.values()) await s.close().catch(() => undefined);
    this.sessions.clear();
    await this.vcsim.kill();
    await this.cp.stop();
  }
}
