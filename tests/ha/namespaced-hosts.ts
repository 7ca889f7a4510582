// The hosts of an HA scenario that partitions them: private libvirtds, each in its own network
// namespace on a veth pair (tests/harness/host-network.ts), listening on TCP there, sharing one
// storage directory (as NFS would be) that holds the idle-VM image; the test sees each host
// through its daemon's unix socket, which a partition does not cut.
import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { freePort } from "../../src/local/ports.ts";
import { startHostNetwork, type HostNetwork } from "../harness/host-network.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { seedSharedIdleImage } from "./shared-image.ts";

const execute = promisify(execFile);

export interface NamespacedHost {
  net: HostNetwork;
  daemon: PrivateLibvirtd;
  /** qemu+tcp://<address in its namespace>:<port>/system: what the Host's spec.endpoint names. */
  endpoint: string;
}

export async function startNamespacedHosts(names: string[], diskDir: string, apiServer: string): Promise<Map<string, NamespacedHost>> {
  await mkdir(diskDir, { recursive: true });
  const hosts = new Map<string, NamespacedHost>();
  for (const name of names) {
    const net = await startHostNetwork();
    try {
      await net.forwardApiServer(apiServer);
      const port = await freePort();
      const daemon = await startPrivateLibvirtd(name, { tcp: { address: net.hostAddress, port }, pools: [{ name: "shared", path: diskDir }], netns: net.ns });
      hosts.set(name, { net, daemon, endpoint: `qemu+tcp://${net.hostAddress}:${port}/system` });
    } catch (err) {
      await net.close();
      throw err;
    }
  }
  const [first, ...others] = [...hosts.values()];
  await seedSharedIdleImage(first!.daemon.uri, others.map((h) => h.daemon.uri));
  return hosts;
}

export async function stopNamespacedHosts(hosts: Map<string, NamespacedHost>, diskDir: string): Promise<void> {
  await Promise.all([...hosts.values()].map((h) => h.daemon.stop()));
  await Promise.all([...hosts.values()].map((h) => h.net.close()));
  await rm(diskDir, { recursive: true, force: true });
}

/** The scenario's VMs (domains <ns>.<vm>) running on a host, asked through its daemon's unix socket. */
export async function runningOn(host: NamespacedHost, ns: string): Promise<Set<string>> {
  try {
    const { stdout } = await execute("virsh", ["-q", "-c", host.daemon.uri, "list", "--name", "--state-running"], { timeout: 3_000 });
    return new Set(stdout.split("\n").map((s) => s.trim()).filter((d) => d.startsWith(`${ns}.`)).map((d) => d.slice(ns.length + 1)));
  } catch {
    return new Set();
  }
}
