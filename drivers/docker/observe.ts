// What a container looks like through the contract: its power state, limits, addresses and the
// identity it carries in its labels (none for a container Omnivisor did not create).
import type Dockerode from "dockerode";
import { identityFromMetadata, type ObservedPower, type VmObservation } from "../contract/index.ts";

const mib = 1024 * 1024;

export interface ContainerState {
  Status?: string;
  OOMKilled?: boolean;
  ExitCode?: number;
}

export function powerOf(state: ContainerState | undefined): ObservedPower {
  switch (state?.Status) {
    case "running":
    case "restarting":
      return "Running";
    case "paused":
      return "Paused";
    case "created":
    case "removing":
      return "Stopped";
    case "exited":
      return state.OOMKilled === true ? "Crashed" : "Stopped";
    case "dead":
      return "Crashed";
    default:
      return "Unknown";
  }
}

/** Docker names start with "/"; the contract's names do not. */
export function containerName(name: string | undefined): string {
  return (name ?? "").replace(/^\//, "");
}

export function observation(info: Dockerode.ContainerInspectInfo, hostCpus: number, hostMemoryMiB: number): VmObservation {
  const name = containerName(info.Name);
  const identity = identityFromMetadata(info.Config.Labels, name, info.Id);
  const nano = info.HostConfig.NanoCpus ?? 0;
  const memory = info.HostConfig.Memory ?? 0;
  const addresses = Object.values(info.NetworkSettings.Networks ?? {})
    .flatMap((n) => [n.IPAddress, n.GlobalIPv6Address])
    .filter((a): a is string => typeof a === "string" && a !== "");
  const obs: VmObservation = {
    externalId: info.Id,
    name,
    managed: identity !== undefined,
    power: powerOf(info.State),
    // An unlimited container may use the whole host, so that is what it is observed to have.
    cpus: nano > 0 ? nano / 1e9 : hostCpus,
    memoryMiB: memory > 0 ? Math.round(memory / mib) : hostMemoryMiB,
    addresses,
  };
  if (identity !== undefined) obs.identity = identity;
  return obs;
}
