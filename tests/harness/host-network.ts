// TEST GROUND — a test host's own network: a network namespace joined to the test's by a veth pair
// (a /30 of 10.251.0.0/16 picked at random and checked unused; nothing is routed beyond the pair).
// The host's libvirtd and its status watcher run inside; the manager reaches the host at
// hostAddress, and the watcher reaches the API server through the pair as well (an API forward:
// 127.0.0.1:<api port> inside the namespace → the test side of the pair → 127.0.0.1:<api port>
// outside), so cutting the pair on the test side (`ip link set <test side> down`) is a partition:
// the manager loses the host, the watcher loses the API server, and the host's QEMUs run on.
// The BMC network (the test BMC on the test's loopback) is not cut, as on a real site.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);

export interface HostNetwork {
  /** The network namespace's name (ip netns). */
  ns: string;
  /** The host's address inside the namespace. */
  hostAddress: string;
  /** The test side of the veth pair. */
  testAddress: string;
  /** The test side's interface (what cut() takes down). */
  testLink: string;
  /** The command prefix that runs something inside the namespace. */
  inside(command: string, args: string[]): { command: string; args: string[] };
  /** Inside the namespace, 127.0.0.1:<port of server> reaches the API server (through the pair). */
  forwardApiServer(server: string): Promise<void>;
  /** The partition: the test side of the veth pair goes down. */
  cut(): Promise<void>;
  mend(): Promise<void>;
  close(): Promise<void>;
}

async function ip(args: string[]): Promise<string> {
  return (await run("ip", args, { timeout: 10_000 })).stdout;
}

/** A /30 of 10.251.0.0/16 no interface on the machine uses. */
async function freeSubnet(): Promise<{ test: string; host: string }> {
  const used = await ip(["-o", "-4", "addr"]);
  for (let i = 0; i < 50; i++) {
    const [a, b] = [randomInt(0, 256), randomInt(0, 64) * 4];
    if (!used.includes(`10.251.${a}.`)) return { test: `10.251.${a}.${b + 1}`, host: `10.251.${a}.${b + 2}` };
  }
  throw new Error("no free /30 in 10.251.0.0/16 for a test host's network");
}

export async function startHostNetwork(): Promise<HostNetwork> {
  const id = randomBytes(4).toString("hex");
  const ns = `omni-host-${id}`;
  const testLink = `ov${id}t`;
  const hostLink = `ov${id}h`;
  const { test, host } = await freeSubnet();
  const inNs = (args: string[]) => ip(["netns", "exec", ns, "ip", ...args]);
  const helpers: ChildProcess[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  await ip(["netns", "add", ns]);
  try {
    await ip(["link", "add", testLink, "type", "veth", "peer", "name", hostLink]);
    await ip(["link", "set", hostLink, "netns", ns]);
    await ip(["addr", "add", `${test}/30`, "dev", testLink]);
    await ip(["link", "set", testLink, "up"]);
    await inNs(["addr", "add", `${host}/30`, "dev", hostLink]);
    await inNs(["link", "set", hostLink, "up"]);
    await inNs(["link", "set", "lo", "up"]);
  } catch (err) {
    await ip(["link", "del", testLink]).catch(() => undefined);
    await ip(["netns", "del", ns]).catch(() => undefined);
    throw err;
  }
  const inside = (command: string, args: string[]) => ({ command: "ip", args: ["netns", "exec", ns, command, ...args] });
  return {
    ns,
    hostAddress: host,
    testAddress: test,
    testLink,
    inside,
    async forwardApiServer(server) {
      const api = new URL(server);
      const port = Number(api.port || 443);
      // outside: the test side of the pair → the API server on the test's loopback
      const outside = createServer((client) => {
        const upstream = createConnection(port, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => (client.destroy(), upstream.destroy()));
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => outside.once("error", reject).listen(0, test, () => resolve()));
      servers.push(outside);
      const via = (outside.address() as AddressInfo).port;
      // inside: 127.0.0.1:<api port> → the test side of the pair
      const { command, args } = inside(process.execPath, [join(repoRoot, "tests", "harness", "tcp-forward.ts"), "127.0.0.1", String(port), test, String(via)]);
      const child = spawn(toolchain().supervise, ["--die-with-parent", "--", command, ...args], { stdio: ["ignore", "pipe", "ignore"] });
      helpers.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (d: string) => (d.includes("listening") ? resolve() : undefined));
        child.once("exit", (code) => reject(new Error(`the API forward inside ${ns} exited (${String(code)})`)));
      });
    },
    async cut() {
      await ip(["link", "set", testLink, "down"]);
    },
    async mend() {
      await ip(["link", "set", testLink, "up"]);
    },
    async close() {
      for (const c of helpers) if (c.exitCode === null) c.kill("SIGTERM");
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      await ip(["link", "del", testLink]).catch(() => undefined);
      await ip(["netns", "del", ns]).catch(() => undefined);
    },
  };
}
