// What the one-node test cluster changes on the host, and how it is put back: the host-wide
// lock, the sysctls the kubelet, kube-proxy and the CNI plugins set, the egress lockdown, and the
// cleanup of everything a node (or a crashed earlier node) left: processes, mounts, links,
// iptables chains, cgroups and state directories. See docs/adr/0030-one-node-test-cluster.md.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Everything the node keeps on disk; deleted at stop (and by the next start after a crash). */
export const NODE_STATE = "/var/lib/omnivisor-test-node";
/** The node's runtime dir: containerd's state and socket (never dockerd's /run/containerd). */
export const NODE_RUN = "/run/omnivisor-test-node";
export const NODE_LOCK = "/run/omnivisor-test-node.lock";
export const BRIDGE = "cni0";
export const POD_CIDR = "10.244.0.0/24";
export const POD_GATEWAY = "10.244.0.1";
/** Chains the node adds itself (kube-proxy's are KUBE-*, the CNI plugins' CNI-*). */
export const EGRESS_CHAIN = "OMNIVISOR-NODE-EGRESS";
export const API_CHAIN = "OMNIVISOR-NODE-API";
const HOST_BEFORE = join(NODE_STATE, "host-before.json");
const CONTAINER_LOGS = "/var/log/containers";
/**
 * Paths the components create outside the node's dirs whatever they are told: the kubelet's
 * device-plugin socket dir (/var/lib/kubelet/device-plugins) and container log links
 * (/var/log/containers). Removed at restore when they did not exist before.
 */
export const COMPONENT_PATHS = ["/var/lib/kubelet", CONTAINER_LOGS, "/var/log/pods", "/var/lib/cni"];

/**
 * Sysctls the node's components may change: the kubelet (overcommit, panic, keys), kube-proxy
 * (conntrack, bridge netfilter), the bridge CNI plugin (forwarding) and the lockdown (route_localnet).
 */
export const NODE_SYSCTLS = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
  "net.ipv4.ip_forward",
  "net.ipv4.conf.all.route_localnet",
  "net.ipv4.conf.all.forwarding",
  "net.ipv6.conf.all.forwarding",
  "net.bridge.bridge-nf-call-iptables",
  "net.bridge.bridge-nf-call-ip6tables",
  "net.netfilter.nf_conntrack_max",
  "net.netfilter.nf_conntrack_tcp_timeout_established",
  "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
  "net.netfilter.nf_conntrack_tcp_be_liberal",
  "net.netfilter.nf_conntrack_udp_timeout",
  "net.netfilter.nf_conntrack_udp_timeout_stream",
];

/** What the kubelet sets once, at start (its "kernel tunables"), whatever it is told. */
const KUBELET_TUNABLES = ["vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops", "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes"];

const sysctlPath = (name: string): string => join("/proc/sys", ...name.split("."));

/** Current values (absent ones left out). */
export function readSysctls(names: string[] = NODE_SYSCTLS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    try {
      out[n] = readFileSync(sysctlPath(n), "utf8").trim();
    } catch {
      // not on this kernel
    }
  }
  return out;
}

export function writeSysctl(name: string, value: string): void {
  writeFileSync(sysctlPath(name), `${value}\n`);
}

/** The host-wide lock: one node per machine (port 10250, cni0 and iptables are host-wide). */
export class NodeLock {
  private readonly holder: ChildProcess | undefined;
  private constructor(holder: ChildProcess | undefined) {
    this.holder = holder;
  }

  /** The lock as held by the process that started this one (a test driving a node in a child). */
  static heldByParent(): NodeLock {
    return new NodeLock(undefined);
  }

  /** Waits (up to timeoutMs) for the lock; `flock` holds it until release() or our death. */
  static async acquire(timeoutMs: number, log: (line: string) => void): Promise<NodeLock> {
    // flock runs `read`, which ends when our end of its stdin closes: on release, and when this
    // process dies in any way, so a crashed test never keeps the lock.
    const holder = spawn("flock", ["--exclusive", "--timeout", String(Math.ceil(timeoutMs / 1000)), NODE_LOCK, "sh", "-c", "echo locked; read _"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let waitingSaid = false;
    const timer = setTimeout(() => {
      waitingSaid = true;
      log(`waiting for ${NODE_LOCK} (another test node is running)`);
    }, 1_000);
    try {
      await new Promise<void>((resolve, reject) => {
        let err = "";
        holder.stderr.on("data", (d: Buffer) => (err += d.toString()));
        holder.stdout.on("data", (d: Buffer) => {
          if (d.toString().includes("locked")) resolve();
        });
        holder.once("error", reject);
        holder.once("exit", (code) =>
          reject(new Error(`could not take ${NODE_LOCK} within ${timeoutMs} ms (flock exit ${code}): another test node kept it${err ? `: ${err.trim()}` : ""}`)),
        );
      });
    } finally {
      clearTimeout(timer);
    }
    if (waitingSaid) log(`took ${NODE_LOCK}`);
    return new NodeLock(holder);
  }

  async release(): Promise<void> {
    const holder = this.holder;
    if (!holder || holder.exitCode !== null || holder.signalCode !== null) return;
    const exited = new Promise((r) => holder.once("exit", r));
    holder.stdin!.end();
    await exited;
  }
}

interface HostBefore {
  sysctls: Record<string, string>;
  /** COMPONENT_PATHS that did not exist. */
  absentPaths: string[];
}

/** Records what start changes (before changing anything), so stop or the next start can restore it. */
export function recordHost(): HostBefore {
  const before: HostBefore = { sysctls: readSysctls(), absentPaths: COMPONENT_PATHS.filter((p) => !existsSync(p)) };
  writeFileSync(HOST_BEFORE, JSON.stringify(before, null, 2));
  return before;
}

/**
 * Puts back the kernel tunables the kubelet set at its start (it sets them once and does not look
 * again): a shared machine must not reboot on the first kernel oops (kernel.panic_on_oops=1,
 * kernel.panic=10) while a test node runs. Returns what was put back.
 */
export function restoreKubeletTunables(): string[] {
  const before = JSON.parse(readFileSync(HOST_BEFORE, "utf8")) as HostBefore;
  const now = readSysctls(KUBELET_TUNABLES);
  const restored: string[] = [];
  for (const name of KUBELET_TUNABLES) {
    const value = before.sysctls[name];
    if (value !== undefined && now[name] !== value) {
      writeSysctl(name, value);
      restored.push(`${name} = ${value} (kubelet set ${now[name]})`);
    }
  }
  return restored;
}

/**
 * Puts the host back: kills what is left (shims, pod processes), unmounts, deletes cni0 and its
 * veths, the node's iptables chains, the kubepods cgroups, the state dirs, and restores the
 * recorded sysctls. Idempotent; also the stale-state cleanup of a crashed earlier run.
 */
export async function restoreHost(log: (line: string) => void): Promise<void> {
  const before = existsSync(HOST_BEFORE) ? (JSON.parse(readFileSync(HOST_BEFORE, "utf8")) as HostBefore) : undefined;
  await killLeftovers(log);
  await unmountAll(log);
  await deleteLinks(log);
  await removeIptables(log);
  await removeCgroups(log);
  if (before) {
    const now = readSysctls(Object.keys(before.sysctls));
    for (const [name, value] of Object.entries(before.sysctls)) {
      if (now[name] !== value) {
        writeSysctl(name, value);
        log(`restored ${name} = ${value} (was ${now[name]})`);
      }
    }
    for (const p of before.absentPaths) {
      if (!existsSync(p)) continue;
      await rm(p, { recursive: true, force: true });
      log(`removed ${p}`);
    }
  }
  if (existsSync(CONTAINER_LOGS)) {
    for (const f of readdirSync(CONTAINER_LOGS)) {
      const p = join(CONTAINER_LOGS, f);
      try {
        if (readlinkSync(p).startsWith(NODE_STATE)) await rm(p, { force: true });
      } catch {
        // not a link
      }
    }
  }
  await rm(NODE_RUN, { recursive: true, force: true });
  await rm(NODE_STATE, { recursive: true, force: true });
}

function processes(): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      out.push({ pid: Number(e), cmdline: readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {
      // gone
    }
  }
  return out;
}

/** Our components (their command lines name our dirs), containerd's shims for our socket, pod processes. */
async function killLeftovers(log: (line: string) => void): Promise<void> {
  const ours = processes().filter((p) => p.pid !== process.pid && (p.cmdline.includes(`${NODE_STATE}/`) || p.cmdline.includes(`${NODE_RUN}/`)));
  const inPods = kubepodsCgroups().flatMap((dir) => cgroupProcs(dir));
  const pids = new Set([...ours.map((p) => p.pid), ...inPods]);
  if (pids.size === 0) return;
  log(`killing ${pids.size} leftover node processes`);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while ([...pids].some((p) => existsSync(`/proc/${p}`) && !isZombie(p)) && Date.now() < deadline) await sleep(50);
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Mount points (from mountinfo) that belong to the node: its dirs and pod network namespaces. */
export function nodeMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\(\d{3})/g, (_s, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m.startsWith(`${NODE_STATE}/`) || m.startsWith(`${NODE_RUN}/`) || m.startsWith("/run/netns/cni-") || m.startsWith("/var/lib/kubelet/"));
}

async function unmountAll(log: (line: string) => void): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = [...new Set(nodeMounts())].sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    if (round === 0) log(`unmounting ${mounts.length} node mounts`);
    for (const m of mounts) {
      await run("umount", [m]).catch(() => run("umount", ["-l", m]).catch(() => undefined));
    }
  }
  if (existsSync("/run/netns")) {
    for (const f of readdirSync("/run/netns").filter((f) => f.startsWith("cni-"))) await rm(join("/run/netns", f), { force: true });
  }
}

async function deleteLinks(log: (line: string) => void): Promise<void> {
  const { stdout } = await run("ip", ["-o", "link", "show", "master", BRIDGE]).catch(() => ({ stdout: "" }));
  for (const line of stdout.split("\n")) {
    const name = /^\d+:\s+([^:@]+)/.exec(line)?.[1];
    if (name) await run("ip", ["link", "del", name]).catch(() => undefined);
  }
  if (await run("ip", ["link", "show", BRIDGE]).then(() => true, () => false)) {
    await run("ip", ["link", "del", BRIDGE]);
    log(`deleted ${BRIDGE}`);
  }
}

const ourChain = (name: string): boolean => /^(KUBE-|CNI-|OMNIVISOR-NODE-)/.test(name);

/**
 * Removes every KUBE-*, CNI-* and OMNIVISOR-NODE-* chain and every rule that jumps to one, in
 * one iptables-restore transaction per table (it parses the quoted comments iptables-save prints).
 */
async function removeIptables(log: (line: string) => void): Promise<void> {
  for (const tool of ["iptables", "ip6tables"]) {
    const { stdout } = await run(`${tool}-save`).catch(() => ({ stdout: "" }));
    let table = "";
    const script: Record<string, { deletes: string[]; chains: string[] }> = {};
    for (const line of stdout.split("\n")) {
      if (line.startsWith("*")) {
        table = line.slice(1);
        script[table] = { deletes: [], chains: [] };
      } else if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0]!;
        if (ourChain(chain)) script[table]!.chains.push(chain);
      } else if (line.startsWith("-A ")) {
        const chain = line.split(" ")[1]!;
        const target = /\s-[jg] (\S+)/.exec(line)?.[1];
        if (!ourChain(chain) && target !== undefined && ourChain(target)) script[table]!.deletes.push(`-D ${line.slice(3)}`);
      }
    }
    const input = Object.entries(script)
      .filter(([, s]) => s.deletes.length + s.chains.length > 0)
      .map(([t, s]) => [`*${t}`, ...s.deletes, ...s.chains.map((c) => `-F ${c}`), ...s.chains.map((c) => `-X ${c}`), "COMMIT"].join("\n"))
      .join("\n");
    if (!input) continue;
    await new Promise<void>((resolve, reject) => {
      const p = spawn(`${tool}-restore`, ["--noflush"], { stdio: ["pipe", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.once("error", reject);
      p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${tool}-restore failed (${code}): ${err}\n${input}`))));
      p.stdin.end(`${input}\n`);
    });
    const n = Object.values(script).reduce((a, s) => a + s.chains.length, 0);
    log(`removed ${n} ${tool} chains`);
  }
}

/** Every kubepods cgroup directory at the top of each hierarchy (cgroup v1 and v2). */
export function kubepodsCgroups(): string[] {
  const root = "/sys/fs/cgroup";
  const hierarchies = [root, ...readdirSync(root).map((d) => join(root, d)).filter((d) => isDir(d))];
  return hierarchies.flatMap((h) => {
    try {
      return readdirSync(h).filter((d) => d.startsWith("kubepods")).map((d) => join(h, d)).filter(isDir);
    } catch {
      return [];
    }
  });
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

function cgroupProcs(dir: string): number[] {
  let pids: number[] = [];
  try {
    pids = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    // gone
  }
  return [...pids, ...subdirs(dir).flatMap(cgroupProcs)];
}

function rmdirTree(dir: string): void {
  for (const d of subdirs(dir)) rmdirTree(d);
  rmdirSync(dir);
}

async function removeCgroups(log: (line: string) => void): Promise<void> {
  const dirs = kubepodsCgroups();
  if (dirs.length === 0) return;
  for (let attempt = 0; ; attempt++) {
    const left = kubepodsCgroups();
    if (left.length === 0) break;
    try {
      for (const d of left) rmdirTree(d);
    } catch (err) {
      if (attempt >= 50) throw new Error(`could not remove kubepods cgroups: ${(err as Error).message}`);
      await sleep(100);
    }
  }
  log(`removed ${dirs.length} kubepods cgroup trees`);
}
