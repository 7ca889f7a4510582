// A child process the local control plane owns: started under `supervise --die-with-parent`
// (so it can never outlive us, even if we are SIGKILLed), output appended to a log file,
// stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { once } from "node:events";

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Path of the supervise binary; when absent the command runs directly. */
  supervise?: string;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  readonly spec: ProcessSpec;
  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const log = createWriteStream(this.spec.logFile, { flags: "a" });
    await once(log, "open");
    const [cmd, args] = this.spec.supervise
      ? [this.spec.supervise, ["--die-with-parent", "--grace", "5", "--", this.spec.command, ...this.spec.args]]
      : [this.spec.command, this.spec.args];
    const child = spawn(cmd, args, {
      env: this.spec.env ?? process.env,
      stdio: ["ignore", log, log],
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.once("error", () => resolve(null));
    });
    await Promise.race([once(child, "spawn"), once(child, "error").then(([e]) => Promise.reject(e as Error))]);
    log.close();
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves once the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kill at once, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGKILL");
    await this.exited;
  }

  /** Resolves with the exit code if the process exits before the promise is discarded. */
  whenExited(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }

  /** The last lines of its log, for error messages. */
  tail(lines = 20): string {
    if (!existsSync(this.spec.logFile)) return "";
    return readFileSync(this.spec.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }
}
