// A private dockerd for tests that must crash or restart the daemon: the shared one at
// /var/run/docker.sock runs everyone's containers, and restarting it would kill them.
//
// Everything it touches is its own: data root, exec root (so its own containerd), pidfile, socket,
// and its own bridge. Never `--bridge=none`: on a second daemon that deleted the shared daemon's
// docker0 (TESTGROUND.md). It does not touch iptables or ip_forward. busybox:local is copied in
// from the shared daemon. stop() removes all of it and checks docker0 is still there.
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { generatePki, type Pki } from "../../src/local/pki.ts";
import { freePort } from "../../src/local/ports.ts";
import { ManagedProcess } from "../../src/local/process.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { dockerSocket } from "./services.ts";

const run = promisify(execFile);

export class PrivateDockerd {
  readonly dir: string;
  readonly socket: string;
  readonly bridge: string;
  readonly subnet: string;
  private process: ManagedProcess | undefined;
  private starts = 0;
  /** With `tls`: the daemon also listens on tcp://127.0.0.1:port, verifying client certificates. */
  tls: { port: number; pki: Pki } | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = join(dir, "docker.sock");
    this.bridge = `omt${randomBytes(3).toString("hex")}`;
    this.subnet = `10.213.${randomInt(1, 255)}`;
  }

  get endpoint(): string {
    return `unix://${this.socket}`;
  }

  /** Starts a private daemon with busybox:local loaded; `tls` adds a TLS listener (as for a remote host). */
  static async start(options: { tls?: boolean } = {}): Promise<PrivateDockerd> {
    const d = new PrivateDockerd(await mkdtemp("/tmp/omni-dockerd-"));
    try {
      if (options.tls === true) {
        const pkiDir = join(d.dir, "pki");
        await mkdir(pkiDir);
        d.tls = { port: await freePort(), pki: await generatePki(pkiDir, [{ name: "client", user: "omnivisor", groups: [] }]) };
      }
      await run("ip", ["link", "add", d.bridge, "type", "bridge"]);
      await run("ip", ["addr", "add", `${d.subnet}.1/24`, "dev", d.bridge]);
      await run("ip", ["link", "set", d.bridge, "up"]);
      await d.restart();
      await run("sh", ["-c", `docker -H unix://${dockerSocket} save busybox:local | docker -H ${d.endpoint} load -q`]);
      return d;
    } catch (err) {
      await d.stop();
      throw err;
    }
  }

  async docker(...args: string[]): Promise<string> {
    const { stdout } = await run("docker", ["-H", this.endpoint, ...args]);
    return stdout.trim();
  }

  /** Starts the daemon (again) on the same data and waits until it answers. */
  async restart(): Promise<void> {
    const p = new ManagedProcess({
      name: "dockerd (private)",
      command: "dockerd",
      args: [
        `--host=${this.endpoint}`,
        `--data-root=${join(this.dir, "data")}`,
        `--exec-root=${join(this.dir, "exec")}`,
        `--pidfile=${join(this.dir, "dockerd.pid")}`,
        "--storage-driver=vfs",
        `--bridge=${this.bridge}`,
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
        "--userland-proxy=false",
        ...this.tlsArgs(),
      ],
      logFile: join(this.dir, "dockerd.log"),
      supervise: join(toolchain().cache, "bin", "supervise"),
    });
    this.process = p;
    this.starts++;
    // A crashed daemon leaves its pidfiles; they are ours. Its containerd may still be a zombie
    // for a moment (PID 1 here reaps late), which dockerd would take for a live containerd.
    await rm(join(this.dir, "dockerd.pid"), { force: true });
    await this.forgetDeadContainerd();
    await p.start();
    for (let i = 0; i < 300; i++) {
      if (!p.running) throw new Error(`private dockerd exited at start ${this.starts}:\n${p.tail()}`);
      if (await this.docker("version", "-f", "{{.Server.Version}}").then(() => true, () => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`private dockerd did not answer on ${this.socket} within 30 s:\n${p.tail()}`);
  }

  private tlsArgs(): string[] {
    if (this.tls === undefined) return [];
    const { pki, port } = this.tls;
    return [`--host=tcp://127.0.0.1:${port}`, "--tlsverify", `--tlscacert=${pki.caCert}`, `--tlscert=${pki.serverCert}`, `--tlskey=${pki.serverKey}`];
  }

  private async forgetDeadContainerd(): Promise<void> {
    const pidfile = join(this.dir, "exec", "containerd", "containerd.pid");
    const pid = (await readFile(pidfile, "utf8").catch(() => "")).trim();
    if (pid === "") return;
    for (let i = 0; i < 50; i++) {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      // Field 3 is the state; a zombie ("Z") or a missing process is dead.
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (stat === "" || state === "Z" || state === "X") {
        await rm(pidfile, { force: true });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Kills the daemon at once, as a crash would (its containers are left to the next start). */
  async crash(): Promise<void> {
    await this.process?.kill();
  }

  /** Stops the daemon and removes everything it had: containers, data, bridge, processes. */
  async stop(): Promise<void> {
    if (this.process?.running === true) {
      await this.docker("rm", "-f", ...(await this.docker("ps", "-aq")).split("\n").filter((l) => l !== "")).catch(() => undefined);
      await this.process.stop(15_000);
    }
    await this.killLeftovers();
    await this.unmountAll();
    await rm(this.dir, { recursive: true, force: true });
    await run("ip", ["link", "del", this.bridge]).catch(() => undefined);
    if (!(await linkExists("docker0"))) throw new Error("the shared dockerd's docker0 bridge is gone after the private dockerd stopped");
  }

  /** containerd, shims or container processes of this daemon still alive (after a crash): end them by pid. */
  private async killLeftovers(): Promise<void> {
    const ids = await readdir(join(this.dir, "data", "containers")).catch(() => [] as string[]);
    for (const id of ids) {
      const procs = await readFile(`/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`, "utf8").catch(() => "");
      for (const pid of procs.split("\n").filter((l) => l !== "")) kill(Number(pid));
    }
    const { stdout } = await run("ps", ["-eo", "pid=,args="]);
    for (const line of stdout.split("\n")) {
      const [pid, ...args] = line.trim().split(/\s+/);
      if (pid !== undefined && args.join(" ").includes(this.dir)) kill(Number(pid));
    }
  }

  private async unmountAll(): Promise<void> {
    const mounts = (await readFile("/proc/self/mounts", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m]).catch(() => undefined);
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

async function linkExists(name: string): Promise<boolean> {
  try {
    readFileSync(`/sys/class/net/${name}/ifindex`);
    return true;
  } catch {
    return run("ip", ["link", "show", name]).then(() => true, () => false);
  }
}
