// A VM spec as a Docker container: the first disk's image is the container image, CPU and memory
// become hard limits, identity travels in labels, and the container behaves like a VM — it runs
// under an init (so SIGTERM reaches the workload and a soft stop is quick), never restarts by
// itself (power is the operator's decision), and with `console` gets a TTY.
import type Dockerode from "dockerode";
import { identityMetadata, TerminalError, UnsupportedError, type VmIdentity, type VmSpec } from "../contract/index.ts";

const mib = 1024 * 1024;

export function containerImage(spec: VmSpec): string {
  const image = spec.disks.find((d) => d.image !== undefined && d.image !== "")?.image;
  if (image === undefined) throw new TerminalError("docker: the VM spec names no image (a disk with `image`)", { reason: "image-missing" });
  return image;
}

/** The networks the container joins: none for [], the host's default network when unspecified. */
export function containerNetworks(spec: VmSpec, defaultNetwork: string): string[] {
  if (spec.networks === undefined) return [defaultNetwork];
  return spec.networks.map((n) => n.network ?? n.bridge ?? defaultNetwork);
}

export function resourceLimits(spec: VmSpec): { NanoCpus: number; Memory: number; MemorySwap: number } {
  if (!(spec.cpus > 0) || !(spec.memoryMiB > 0)) {
    throw new TerminalError(`docker: cpus (${spec.cpus}) and memoryMiB (${spec.memoryMiB}) must be positive`, { reason: "bad-spec" });
  }
  // MemorySwap = Memory: no swap beyond the limit, and updateVm can raise the limit freely
  // (Docker's default of twice the memory would block raising it past that).
  return { NanoCpus: Math.round(spec.cpus * 1e9), Memory: spec.memoryMiB * mib, MemorySwap: spec.memoryMiB * mib };
}

/**
 * What a container cannot be given (src/api/driver-support.ts: the API server and placement keep
 * such VMs away; this is the driver's own word): cloud-init, a disk bus or boot order, a NIC model.
 */
export function refuseVmOnlySettings(spec: VmSpec): void {
  if (spec.cloudInit !== undefined) throw new UnsupportedError("docker: a container runs no cloud-init; give it settings through its image or environment", { reason: "no-cloud-init" });
  const disk = spec.disks.find((d) => (d.bus !== undefined && d.bus !== "virtio") || d.bootOrder !== undefined);
  if (disk) throw new UnsupportedError(`docker: disk ${disk.name}: a container has no disk bus or boot order`, { reason: "unsupported-device" });
  const nic = spec.networks?.find((n) => n.model !== undefined && n.model !== "virtio");
  if (nic) throw new UnsupportedError(`docker: network ${nic.name}: a container's NIC is a veth, not ${nic.model}`, { reason: "unsupported-device" });
}

export function createOptions(identity: VmIdentity, spec: VmSpec, defaultNetwork: string): Dockerode.ContainerCreateOptions {
  refuseVmOnlySettings(spec);
  const networks = containerNetworks(spec, defaultNetwork);
  const console = spec.console ?? false;
  const options: Dockerode.ContainerCreateOptions = {
    name: identity.name,
    Image: containerImage(spec),
    Labels: identityMetadata(identity),
    Tty: console,
    OpenStdin: console,
    HostConfig: {
      Init: true,
      RestartPolicy: { Name: "no" },
      NetworkMode: networks[0] ?? "none",
      ...resourceLimits(spec),
    },
  };
  // The first network's MAC goes with the create (API 1.41 takes it there); the others join
  // afterwards with theirs (joinExtraNetworks).
  const mac = spec.networks?.[0]?.macAddress;
  if (mac !== undefined) options.MacAddress = mac;
  if (spec.container?.command !== undefined) options.Cmd = spec.container.command;
  if (spec.container?.env !== undefined) options.Env = Object.entries(spec.container.env).map(([k, v]) => `${k}=${v}`);
  return options;
}
