// The one-node test cluster's network lockdown, in place before any pod starts: cni0 (made here,
// with route_localnet), the `kubernetes` Service IP:443 DNATed to the loopback API server, and
// a DROP for everything from cni0 routed to another interface. docs/adr/0030.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { API_CHAIN, BRIDGE, EGRESS_CHAIN, POD_CIDR, POD_GATEWAY } from "./node-host.ts";

const run = promisify(execFile);

/** The `kubernetes` Service's ClusterIP in the control plane's --service-cluster-ip-range. */
export const KUBERNETES_SERVICE_IP = "10.0.0.1";

/** Before any pod exists: cni0 with route_localnet, the API server DNAT, the egress drop. */
export async function lockDownNetwork(apiPort: string, log: (line: string) => void): Promise<void> {
  await run("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  await run("ip", ["addr", "add", `${POD_GATEWAY}/${POD_CIDR.split("/")[1]}`, "dev", BRIDGE]);
  await run("ip", ["link", "set", BRIDGE, "up"]);
  // Per-interface (vanishes with cni0): lets the DNATed packets reach 127.0.0.1 and the replies
  // from 127.0.0.1 go out to the pods.
  await writeFile(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, "1\n");
  const ipt = (tool: string, args: string[]): Promise<unknown> => run(tool, ["-w", "5", ...args]);
  await ipt("iptables", ["-t", "nat", "-N", API_CHAIN]);
  await ipt("iptables", ["-t", "nat", "-A", API_CHAIN, "-d", `${KUBERNETES_SERVICE_IP}/32`, "-p", "tcp", "--dport", "443",
    "-m", "comment", "--comment", "omnivisor test node: the kubernetes Service is the loopback API server",
    "-j", "DNAT", "--to-destination", `127.0.0.1:${apiPort}`]);
  await ipt("iptables", ["-t", "nat", "-I", "PREROUTING", "1", "-i", BRIDGE, "-j", API_CHAIN]);
  // mangle FORWARD runs before every filter FORWARD rule (docker's, kube-proxy's accepts), after
  // the routing decision and before the packet is sent: anything from a pod that would be
  // routed out of any other interface ends here.
  for (const tool of ["iptables", "ip6tables"]) {
    await ipt(tool, ["-t", "mangle", "-N", EGRESS_CHAIN]);
    await ipt(tool, ["-t", "mangle", "-A", EGRESS_CHAIN, "-m", "comment", "--comment", "omnivisor test node: pod traffic never leaves the machine", "-j", "DROP"]);
    await ipt(tool, ["-t", "mangle", "-I", "FORWARD", "1", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", EGRESS_CHAIN]);
  }
  log(`network locked down: ${BRIDGE} ${POD_CIDR}, ${KUBERNETES_SERVICE_IP}:443 → 127.0.0.1:${apiPort}, egress dropped`);
}

/** Packets from pods dropped on their way out of the machine (the IPv4 DROP rule's counter). */
export async function egressDropped(): Promise<number> {
  const { stdout } = await run("iptables", ["-w", "5", "-t", "mangle", "-L", EGRESS_CHAIN, "-n", "-v", "-x"]);
  const rule = stdout.split("\n").find((l) => /\bDROP\b/.test(l));
  if (!rule) throw new Error(`no DROP rule in mangle ${EGRESS_CHAIN}:\n${stdout}`);
  return Number(rule.trim().split(/\s+/)[0]);
}
