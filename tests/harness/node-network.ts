// The one-node test cluster's network lockdown, in place before any pod starts: cni0 (made here,
// with route_localnet), the `kubernetes` Service IP:443 DNATed to the loopback API server, and
// a DROP for everything from cni0 routed to another interface, and one for hostNetwork pods'
// packets to any interface but lo and cni0. docs/adr/0030.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { API_CHAIN, BRIDGE, EGRESS_CHAIN, HOSTNET_CHAIN, POD_CIDR, POD_GATEWAY } from "./node-host.ts";

const run = promisify(execFile);

/** The `kubernetes` Service's ClusterIP in the control plane's --service-cluster-ip-range. */
export const KUBERNETES_SERVICE_IP = "10.0.0.1";

/** The control plane's --service-cluster-ip-range (src/local/control-plane.ts). */
export const SERVICE_CIDR = "10.0.0.0/24";

/** Before any pod exists: cni0 with route_localnet, the API server DNAT, the egress drop. */
export async function lockDownNetwork(apiPort: string, log: (line: string) => void): Promise<void> {
  await run("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  await run("ip", ["addr", "add", `${POD_GATEWAY}/${POD_CIDR.split("/")[1]}`, "dev", BRIDGE]);
  await run("ip", ["link", "set", BRIDGE, "up"]);
  // Per-interface (vanishes with cni0): lets the DNATed packets reach 127.0.0.1 and the replies
  // from 127.0.0.1 go out to the pods.
  await writeFile(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, "1\n");
  // ClusterIPs are routed to cni0, not by the default route: a host socket's packets to a Service
  // kube-proxy has not programmed yet (or never will) stay on this machine instead of leaving by
  // the host's gateway — where something answering would also leave a pooled connection behind
  // that skips the Service's DNAT once it exists. The route goes with cni0.
  await run("ip", ["route", "add", SERVICE_CIDR, "dev", BRIDGE]);
  const ipt = (tool: string, args: string[]): Promise<unknown> => run(tool, ["-w", "5", ...args]);
  await ipt("iptables", ["-t", "nat", "-N", API_CHAIN]);
  await ipt("iptables", ["-t", "nat", "-A", API_CHAIN, "-d", `${KUBERNETES_SERVICE_IP}/32`, "-p", "tcp", "--dport", "443",
    "-m", "comment", "--comment", "omnivisor test node: the kubernetes Service is the loopback API server",
    "-j", "DNAT", "--to-destination", `127.0.0.1:${apiPort}`]);
  await ipt("iptables", ["-t", "nat", "-I", "PREROUTING", "1", "-i", BRIDGE, "-j", API_CHAIN]);
  // The same for the host's own sockets: hostNetwork pods use the Service IP from the host.
  await ipt("iptables", ["-t", "nat", "-I", "OUTPUT", "1", "-j", API_CHAIN]);
  // mangle FORWARD runs before every filter FORWARD rule (docker's, kube-proxy's accepts), after
  // the routing decision and before the packet is sent: anything from a pod that would be
  // routed out of any other interface ends here.
  for (const tool of ["iptables", "ip6tables"]) {
    await ipt(tool, ["-t", "mangle", "-N", EGRESS_CHAIN]);
    await ipt(tool, ["-t", "mangle", "-A", EGRESS_CHAIN, "-m", "comment", "--comment", "omnivisor test node: pod traffic never leaves the machine", "-j", "DROP"]);
    await ipt(tool, ["-t", "mangle", "-I", "FORWARD", "1", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", EGRESS_CHAIN]);
  }
  await lockDownHostNetworkPods(ipt);
  log(`network locked down: ${BRIDGE} ${POD_CIDR}, ${KUBERNETES_SERVICE_IP}:443 → 127.0.0.1:${apiPort}, egress dropped`);
}

/**
 * hostNetwork pods share the host's interfaces, so the FORWARD rule never sees them: their
 * packets are matched by the cgroup of the socket that sends them (cgroup v2: the kubelet's
 * kubepods tree, made here first since the match needs the path to exist) in mangle POSTROUTING
 * — after the Service DNAT and the routing that follows it, so `-o` is where the packet really
 * goes — and dropped unless that is lo (the API server, host addresses) or cni0 (pods, Services).
 */
async function lockDownHostNetworkPods(ipt: (tool: string, args: string[]) => Promise<unknown>): Promise<void> {
  await mkdir(join(cgroup2Root(), "kubepods"), { recursive: true });
  for (const tool of ["iptables", "ip6tables"]) {
    await ipt(tool, ["-t", "mangle", "-N", HOSTNET_CHAIN]);
    await ipt(tool, ["-t", "mangle", "-A", HOSTNET_CHAIN, "-o", "lo", "-j", "RETURN"]);
    await ipt(tool, ["-t", "mangle", "-A", HOSTNET_CHAIN, "-o", BRIDGE, "-j", "RETURN"]);
    await ipt(tool, ["-t", "mangle", "-A", HOSTNET_CHAIN, "-m", "comment", "--comment", "omnivisor test node: hostNetwork pods never reach outside the machine", "-j", "DROP"]);
    await ipt(tool, ["-t", "mangle", "-I", "POSTROUTING", "1", "-m", "cgroup", "--path", "kubepods", "-j", HOSTNET_CHAIN]);
  }
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup/unified on this hybrid host). */
function cgroup2Root(): string {
  const line = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - cgroup2 /.test(l));
  const mountPoint = line?.split(" ")[4];
  if (!mountPoint) throw new Error("no cgroup2 hierarchy is mounted: hostNetwork pods could not be kept from the outside");
  return mountPoint;
}

/**
 * Packets from pods dropped on their way out of the machine: the IPv4 DROP counters of the pod
 * network's rule and the hostNetwork pods' rule.
 */
export async function egressDropped(): Promise<{ podNetwork: number; hostNetwork: number }> {
  const count = async (chain: string): Promise<number> => {
    const { stdout } = await run("iptables", ["-w", "5", "-t", "mangle", "-L", chain, "-n", "-v", "-x"]);
    const rule = stdout.split("\n").find((l) => /\bDROP\b/.test(l));
    if (!rule) throw new Error(`no DROP rule in mangle ${chain}:\n${stdout}`);
    return Number(rule.trim().split(/\s+/)[0]);
  };
  return { podNetwork: await count(EGRESS_CHAIN), hostNetwork: await count(HOSTNET_CHAIN) };
}
