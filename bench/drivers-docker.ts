// The Docker side of the driver micro-benchmark: the Docker driver (dockerode over the unix
// socket, one session) vs the docker CLI (one process per step), same container settings.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import type { VmIdentity, VmSpec } from "../drivers/contract/index.ts";
import { DockerDriver } from "../drivers/docker/driver.ts";
import type { LifecycleBench, Steps } from "./drivers.ts";

const run = promisify(execFile);
const socket = "/var/run/docker.sock";
const spec: VmSpec = { cpus: 0.5, memoryMiB: 32, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] } };

async function docker(...args: string[]): Promise<string> {
  return (await run("docker", ["-H", `unix://${socket}`, ...args])).stdout.trim();
}

export const dockerBench: LifecycleBench = {
  name: "docker",
  labels: { driver: "Docker driver (dockerode)", cli: "docker CLI" },
  async setup(prefix) {
    const session = await new DockerDriver().connect({ endpoint: `unix://${socket}` }, undefined, AbortSignal.timeout(10_000));
    const identities = new Map<string, VmIdentity>();
    const id = (name: string): VmIdentity => {
      const known = identities.get(name) ?? { uid: randomUUID(), name };
      identities.set(name, known);
      return known;
    };
    const driver: Steps = {
      // Like a controller, remember the external id the create reported (it goes to status).
      define: async (name) => {
        id(name).externalId = (await session.createVm(id(name), spec)).externalId;
      },
      start: (name) => session.setPower(id(name), { state: "Running" }),
      stop: (name) => session.setPower(id(name), { state: "Stopped", mode: "TrySoft", deadlineSeconds: 10 }),
      undefine: (name) => session.deleteVm(id(name)),
    };
    const cli: Steps = {
      define: async (name) => void (await docker("create", "--init", "--restart=no", "--cpus=0.5", "--memory=32m", "--memory-swap=32m", "--label", `io.omnivisor.uid=${randomUUID()}`, "--name", name, "busybox:local", "sleep", "2147483647")),
      start: async (name) => void (await docker("start", name)),
      stop: async (name) => void (await docker("stop", "-t", "10", name)),
      undefine: async (name) => void (await docker("rm", "-v", name)),
    };
    const cleanup = async (): Promise<void> => {
      await session.close();
      const left = (await docker("ps", "-aq", "--filter", `name=^/${prefix}`)).split("\n").filter((l) => l !== "");
      if (left.length > 0) await docker("rm", "-f", "-v", ...left);
    };
    return { driver, cli, cleanup };
  },
};
