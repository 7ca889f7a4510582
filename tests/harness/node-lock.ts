// The host-wide lock that keeps test nodes one at a time (port 10250, cni0 and iptables are
// host-wide): a flock on /run/omnivisor-test-node.lock, held by a child that lets go when we do
// or when we die in any way.
import { spawn, type ChildProcess } from "node:child_process";

export const NODE_LOCK = "/run/omnivisor-test-node.lock";

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
