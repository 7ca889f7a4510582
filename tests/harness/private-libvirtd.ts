// A private libvirtd for tests that must kill or restart a daemon (the shared one at
// /run/libvirt/libvirt-sock serves everyone else's tests and is never touched). It runs in its own
// mount namespace with private copies bind-mounted over libvirt's state and config directories,
// listens on a unix socket outside them, has its own host UUID, and can be killed with SIGKILL and
// restarted on the same state: guests keep running meanwhile, as with a real daemon crash.
// Later multi-host tests (migration, HA) start several of these, optionally listening on TCP.
import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../src/local/ports.ts";
import { toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);

/** The directories libvirtd keeps its state in, each replaced by a private copy. */
const privateDirs = { etc: "/etc/libvirt", run: "/run/libvirt", lib: "/var/lib/libvirt", log: "/var/log/libvirt", cache: "/var/cache/libvirt" } as const;

export interface PrivateLibvirtdOptions {
  /** Also listen on TCP (auth none), e.g. for migration between private daemons. */
  tcp?: { address: string; port: number };
  /**
   * Also listen with TLS (auth none beyond the client certificate, which libvirtd verifies
   * against caFile), as a remote host reached over qemu+tls:// does.
   */
  tls?: { address: string; port: number; certFile: string; keyFile: string; caFile: string };
  /** Extra qemu.conf lines (migration_address, migration_host, ...). */
  qemuConf?: string[];
  /**
   * Paths that get a tmpfs of their own inside the daemon's mount namespace: what the daemon
   * writes there exists only for it (a remote host's disk, as far as the test process can tell).
   */
  tmpfs?: string[];
  /** Directory storage pools defined and started once the daemon answers (e.g. one shared by two daemons). */
  pools?: { name: string; path: string }[];
  /** Run in this network namespace (tests/harness/host-network.ts): its TCP listener and its QEMUs live there. */
  netns?: string;
}

export interface PrivateLibvirtd {
  name: string;
  /** qemu+unix URI of this daemon's read-write socket. */
  uri: string;
  /** test+unix URI through this daemon, for simulated hosts. */
  testUri: string;
  socket: string;
  hostUuid: string;
  dir: string;
  /** The daemon's pid (changes on restart). */
  pid(): number | undefined;
  /** Destroys every domain, stops the daemon and removes all its state. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: guests keep running, the stale socket stays. */
  kill(): Promise<void>;
  /** Starts the daemon again on the same state; resolves once it answers calls. */
  restart(): Promise<void>;
}

async function writeConfig(dir: string, name: string, hostUuid: string, opts: PrivateLibvirtdOptions): Promise<void> {
  const etc = join(dir, "etc");
  await mkdir(join(etc, "qemu", "networks", "autostart"), { recursive: true });
  // log/qemu: as the libvirt package makes it on a real host (QEMU and console logs go there).
  for (const d of ["run", "lib", "log/qemu", "cache", "sock"]) await mkdir(join(dir, d), { recursive: true });
  // Only the daemon-wide config files: no domain or network definitions of the shared daemon.
  for (const f of ["libvirt.conf", "virtlogd.conf", "virtlockd.conf", "qemu-lockd.conf"]) {
    await copyFile(join(privateDirs.etc, f), join(etc, f)).catch(() => undefined);
  }
  const libvirtd = [
    `unix_sock_dir = "${join(dir, "sock")}"`,
    `unix_sock_rw_perms = "0700"`,
    `auth_unix_rw = "none"`,
    `auth_unix_ro = "none"`,
    `host_uuid = "${hostUuid}"`,
    `log_outputs = "3:file:${join(dir, "libvirtd.log")}"`,
    `keepalive_interval = 2`,
    `keepalive_count = 3`,
  ];
  if (opts.tcp) libvirtd.push(`listen_tcp = 1`, `auth_tcp = "none"`, `listen_addr = "${opts.tcp.address}"`, `tcp_port = "${opts.tcp.port}"`);
  if (opts.tls) {
    const t = opts.tls;
    libvirtd.push(`listen_tls = 1`, `auth_tls = "none"`, `listen_addr = "${t.address}"`, `tls_port = "${t.port}"`,
      `key_file = "${t.keyFile}"`, `cert_file = "${t.certFile}"`, `ca_file = "${t.caFile}"`, `tls_no_verify_certificate = 0`);
  } else {
    libvirtd.push(`listen_tls = 0`);
  }
  await writeFile(join(etc, "libvirtd.conf"), libvirtd.join("\n") + "\n");
  // Root QEMU (to open /dev/kvm), no cgroups (both daemons would share one path), and QEMU
  // writes console logs itself (no virtlogd inside the namespace).
  const qemu = [`user = "root"`, `group = "root"`, `cgroup_controllers = [ ]`, `stdio_handler = "file"`, ...(opts.qemuConf ?? [])];
  await writeFile(join(etc, "qemu.conf"), qemu.join("\n") + "\n");
  await writeFile(join(dir, "name"), name);
}

async function answers(uri: string): Promise<boolean> {
  return run("virsh", ["-c", uri, "uri"], { timeout: 5_000 }).then(
    () => true,
    () => false,
  );
}

export async function startPrivateLibvirtd(name: string, opts: PrivateLibvirtdOptions = {}): Promise<PrivateLibvirtd> {
  const dir = await mkdtemp(join(tmpdir(), `omni-libvirtd-${name}-`));
  const hostUuid = randomUUID();
  await writeConfig(dir, name, hostUuid, opts);
  const socket = join(dir, "sock", "libvirt-sock");
  const pidFile = join(dir, "libvirtd.pid");
  const uri = `qemu+unix:///system?socket=${socket}`;
  const supervisors: ChildProcess[] = [];
  const supervise = join(toolchain().cache, "bin", "supervise");

  // mkdir: /run/libvirt exists only once some libvirtd ran on this machine since boot.
  const binds = Object.entries(privateDirs).map(([key, target]) => `mkdir -p ${target} && mount --bind ${join(dir, key)} ${target}`);
  const tmpfs = (opts.tmpfs ?? []).map((path) => `mkdir -p ${path} && mount -t tmpfs -o size=2g,mode=0711 omnivisor-private ${path}`);
  const script = [...binds, ...tmpfs, `exec libvirtd ${opts.tcp || opts.tls ? "--listen " : ""}-f ${join(dir, "etc", "libvirtd.conf")} -p ${pidFile}`].join(" && ");

  const launch = async (): Promise<void> => {
    await rm(socket, { force: true });
    await rm(pidFile, { force: true });
    const inNetns = opts.netns ? ["ip", "netns", "exec", opts.netns] : [];
    const child = spawn(supervise, ["--die-with-parent", "--subreaper", "--grace", "5", "--", ...inNetns, "unshare", "-m", "--propagation", "private", "sh", "-c", script], {
      stdio: ["ignore", "ignore", "ignore"],
      detached: false,
    });
    supervisors.push(child);
    for (let i = 0; i < 150; i++) {
      if (await answers(uri)) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const log = await readFile(join(dir, "libvirtd.log"), "utf8").catch(() => "");
    throw new Error(`private libvirtd ${name} did not answer on ${socket}: ${log.split("\n").slice(-5).join(" | ")}`);
  };

  let pid: number | undefined;
  const readPid = async (): Promise<number | undefined> => {
    const text = await readFile(pidFile, "utf8").catch(() => "");
    return Number(text.trim()) || undefined;
  };

  try {
    await launch();
  } catch (err) {
    // Leave nothing behind when the daemon never came up.
    for (const s of supervisors) if (s.exitCode === null) s.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  pid = await readPid();
  for (const pool of opts.pools ?? []) {
    await run("virsh", ["-c", uri, "pool-define-as", pool.name, "dir", "--target", pool.path]);
    await run("virsh", ["-c", uri, "pool-build", pool.name]).catch(() => undefined);
    await run("virsh", ["-c", uri, "pool-start", pool.name]);
  }

  const daemon: PrivateLibvirtd = {
    name,
    uri,
    testUri: `test+unix:///default?socket=${socket}`,
    socket,
    hostUuid,
    dir,
    pid: () => pid,
    async kill() {
      if (pid) process.kill(pid, "SIGKILL");
      // Wait until the process is gone (the socket file stays, as after a real crash).
      for (let i = 0; i < 100 && pid && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      pid = undefined;
    },
    async restart() {
      await launch();
      pid = await readPid();
    },
    async stop() {
      if (pid && (await answers(uri))) {
        const names = (await run("virsh", ["-q", "-c", uri, "list", "--all", "--name"]).catch(() => ({ stdout: "" }))).stdout.split("\n").filter(Boolean);
        for (const n of names) {
          await run("virsh", ["-c", uri, "destroy", n]).catch(() => undefined);
          await run("virsh", ["-c", uri, "undefine", n, "--nvram"]).catch(() => undefined);
        }
      }
      for (const s of supervisors) if (s.exitCode === null) s.kill("SIGTERM");
      await Promise.all(supervisors.map((s) => (s.exitCode === null ? new Promise<void>((r) => s.once("exit", () => r())) : Promise.resolve())));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return daemon;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A simulated host of its own: a private libvirtd reached over TCP on loopback, its test driver's
 * shared `test:///default` (every connection to it sees the same domains).
 */
export async function startSimulatedHost(name: string): Promise<PrivateLibvirtd & { tcpUri: string }> {
  const port = await freePort();
  const daemon = await startPrivateLibvirtd(name, { tcp: { address: "127.0.0.1", port } });
  return Object.assign(daemon, { tcpUri: `test+tcp://127.0.0.1:${port}/default` });
}
