// The host state a test node could change, as comparable text: sysctls, iptables rules and chains
// (no counters), mounts where the node's components mount, network links, top-level cgroups and
// the paths components create outside the node's own dirs. What other host services and parallel
// tests change on their own (dockerd's DOCKER chains and container mounts, libvirt's LIBVIRT_*
// chains, tap and veth devices of VMs and containers, private daemons' bridges and namespaces, the
// docker and machine cgroups) is left out: it is not the node's.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BRIDGE, COMPONENT_PATHS, NODE_RUN, NODE_STATE, NODE_SYSCTLS, readSysctls } from "./node-host.ts";

const run = promisify(execFile);

export interface HostSnapshot {
  sysctls: Record<string, string>;
  iptables: string[];
  ip6tables: string[];
  mounts: string[];
  links: string[];
  cgroups: string[];
  paths: string[];
}

/** Paths outside the node's own dirs that a kubelet, containerd or CNI plugin creates by default. */
const WATCHED_PATHS = [...COMPONENT_PATHS, "/etc/cni", "/opt/cni", "/var/lib/containerd", "/opt/containerd", "/etc/kubernetes"];

const othersRule = /DOCKER|docker0|LIBVIRT_|virbr/;

async function rules(tool: string): Promise<string[]> {
  const { stdout } = await run(`${tool}-save`);
  return stdout
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#") && !othersRule.test(l))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
}

async function links(): Promise<string[]> {
  const { stdout } = await run("ip", ["-o", "link", "show"]);
  return stdout
    .split("\n")
    .map((l) => ({ name: /^\d+:\s+([^:@]+)/.exec(l)?.[1], master: /\smaster (\S+)/.exec(l)?.[1] }))
    .filter((l): l is { name: string; master: string | undefined } => l.name !== undefined)
    .filter((l) => l.master === BRIDGE || !/^(veth|vnet|tap|macvtap|omt|br-)/.test(l.name))
    .map((l) => (l.master ? `${l.name} master ${l.master}` : l.name))
    .sort();
}

/** Mounts where a node's components mount (others' mounts come and go with parallel tests). */
const NODE_MOUNT_PLACES = [`${NODE_STATE}/`, `${NODE_RUN}/`, "/var/lib/kubelet/", "/run/netns/cni-", "/run/containerd/", "/var/lib/containerd/", "/var/lib/cni/"];

function mounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f.length > 8)
    .map((f) => `${f[4]} ${f[f.indexOf("-") + 1]}`)
    .filter((m) => NODE_MOUNT_PLACES.some((p) => m.startsWith(p)))
    .sort();
}

function cgroups(): string[] {
  const root = "/sys/fs/cgroup";
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const hierarchies = [root, ...readdirSync(root).map((d) => join(root, d)).filter(isDir)];
  return hierarchies
    .flatMap((h) => {
      try {
        return readdirSync(h, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(h, e.name));
      } catch {
        return [];
      }
    })
    .filter((p) => !hierarchies.includes(p) && !/\/(docker|machine)(\.slice)?$/.test(p))
    .sort();
}

export async function hostSnapshot(): Promise<HostSnapshot> {
  return {
    sysctls: readSysctls(NODE_SYSCTLS),
    iptables: await rules("iptables"),
    ip6tables: await rules("ip6tables"),
    mounts: mounts(),
    links: await links(),
    cgroups: cgroups(),
    paths: WATCHED_PATHS.filter((p) => existsSync(p)),
  };
}
