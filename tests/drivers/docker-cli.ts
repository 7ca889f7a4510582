// The docker CLI, for acting on a Docker host outside the driver in tests (and the benchmark).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { PowerState } from "../../drivers/contract/index.ts";

const run = promisify(execFile);

export class DockerCli {
  readonly socket: string;

  constructor(socket: string) {
    this.socket = socket;
  }

  async docker(...args: string[]): Promise<string> {
    const { stdout } = await run("docker", ["-H", `unix://${this.socket}`, ...args]);
    return stdout.trim();
  }

  /** A running container without Omnivisor labels, as someone else would start it. */
  async runUnmanaged(name: string): Promise<string> {
    return this.docker("run", "-d", "--init", "--name", name, "busybox:local", "sleep", "2147483647");
  }

  async setPower(id: string, state: PowerState): Promise<void> {
    const current = await this.docker("inspect", "-f", "{{.State.Status}}", id);
    if (state === "Running") await this.docker(current === "paused" ? "unpause" : "start", id);
    if (state === "Stopped") await this.docker("stop", "-t", "5", id);
    if (state === "Paused") await this.docker("pause", id);
  }

  async remove(id: string): Promise<void> {
    await this.docker("rm", "-f", "-v", id).catch((err: { stderr?: string }) => {
      if (!/No such container/i.test(err.stderr ?? "")) throw err;
    });
  }

  /** Removes every container whose name starts with prefix. */
  async removePrefixed(prefix: string): Promise<void> {
    const ids = (await this.docker("ps", "-aq", "--filter", `name=^/${prefix}`)).split("\n").filter((l) => l !== "");
    if (ids.length > 0) await this.docker("rm", "-f", "-v", ...ids);
  }
}
