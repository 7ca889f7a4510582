// TEST FIXTURE — a test BMC for a namespaced test host: a small Redfish service on loopback whose
// ComputerSystem.Reset ForceOff powers "the host" off by killing its private libvirtd and every
// QEMU it started (the processes below the daemon's supervisor), at once; PowerState reports Off
// once none of them is left. Not a BMC emulator (sushy-tools is the protocol reference; its fake driver
// lands power changes 1–11 s late, too late to time HA): it is how the HA scenarios pull a host's
// plug and confirm it, as a real BMC would. It can be unplugged (connections refused) and plugged
// in again, to show a fence that cannot be confirmed.
import { readFile, readdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A process's parent, undefined once it is gone. */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  // pid (comm) state ppid ... — comm may hold spaces and parentheses: read after the last ')'
  const ppid = stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
  return ppid ? Number(ppid) : undefined;
}

async function parents(): Promise<Map<number, number>> {
  const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const out = new Map<number, number>();
  for (const pid of pids) {
    const ppid = await parentOf(pid);
    if (ppid !== undefined) out.set(pid, ppid);
  }
  return out;
}

/**
 * The processes of a test host: its libvirtd and every process below the supervisor that runs it
 * (QEMU daemonizes and is reaped by that supervisor: libvirt puts each QEMU in a mount namespace of
 * its own, so the daemon's namespace does not find them).
 */
export async function hostProcesses(supervisorPid: number): Promise<number[]> {
  const tree = await parents();
  const below = (pid: number): boolean => {
    for (let p = tree.get(pid), hops = 0; p !== undefined && hops < 64; p = tree.get(p), hops++) if (p === supervisorPid) return true;
    return false;
  };
  return [...tree.keys()].filter((pid) => pid !== supervisorPid && below(pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The host's plug pulled: SIGKILL to each of these processes (QEMUs first), until none is left. */
export async function pullThePlug(pids: number[]): Promise<number> {
  if (pids.includes(process.pid) || pids.includes(1)) throw new Error("refusing to kill the test process or PID 1: not a private test host's");
  let killed = 0;
  for (let round = 0; round < 100; round++) {
    const left = pids.filter(alive);
    if (left.length === 0) return killed;
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
        if (round === 0) killed++;
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`processes ${pids.join(", ")} survive SIGKILL`);
}

export interface TestBmc {
  /** http://127.0.0.1:<port> — what the Host's spec.fencing.outOfBand.address names. */
  address: string;
  systemId: string;
  /** ForceOff requests received. */
  resets: number;
  /** When (performance.now()) each ForceOff was received. */
  resetTimes: number[];
  /** Requests refused for wrong credentials. */
  unauthorized: number;
  /** The host is the daemon with this pid (it changes when the daemon restarts) and what runs below its supervisor. */
  follow(daemonPid: () => number | undefined): void;
  /** The host's processes now (its daemon and QEMUs); empty once it is off. */
  processes(): Promise<number[]>;
  /** Crash the host now (as a power loss would): what the scenarios call "kill the host". */
  crash(): Promise<number>;
  /** Stop answering (connections refused) until plugIn(). */
  unplug(): Promise<void>;
  plugIn(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBmc(credentials: { username: string; password: string }): Promise<TestBmc> {
  const systemId = "test-host";
  const system = `/redfish/v1/Systems/${systemId}`;
  let daemonPid: () => number | undefined = () => undefined;
  /** The supervisor of the host's daemon, and the processes last seen below it (a crash leaves QEMUs to be found by pid). */
  let supervisor: number | undefined;
  let known: number[] = [];
  const processes = async (): Promise<number[]> => {
    const pid = daemonPid();
    const parent = pid !== undefined && alive(pid) ? await parentOf(pid) : undefined;
    if (parent !== undefined && parent !== supervisor) {
      supervisor = parent;
      known = [];
    }
    const now = supervisor !== undefined ? await hostProcesses(supervisor) : [];
    known = [...new Set([...known.filter(alive), ...now])];
    return known;
  };
  const powerState = async (): Promise<"On" | "Off"> => ((await processes()).length > 0 ? "On" : "Off");
  const crash = async (): Promise<number> => {
    const pids = await processes();
    const daemon = daemonPid();
    // the QEMUs first: a daemon killed first could let its supervisor go and them with it unseen
    return pullThePlug([...pids.filter((p) => p !== daemon), ...pids.filter((p) => p === daemon)]);
  };
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  const bmc = { resets: 0, unauthorized: 0, resetTimes: [] as number[] };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body?: unknown): void => {
      res.writeHead(status, body === undefined ? {} : { "Content-Type": "application/json" });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.url === "/redfish/v1" || req.url === "/redfish/v1/") return send(200, { "@odata.id": "/redfish/v1", Systems: { "@odata.id": "/redfish/v1/Systems" } });
    if (req.headers.authorization !== expected) {
      bmc.unauthorized++;
      return send(401, { error: { message: "authentication required" } });
    }
    if (req.method === "GET" && req.url === "/redfish/v1/Systems") return send(200, { Members: [{ "@odata.id": system }], "Members@odata.count": 1 });
    if (req.method === "GET" && req.url === system) return send(200, { "@odata.id": system, Id: systemId, PowerState: await powerState() });
    if (req.method === "POST" && req.url === `${system}/Actions/ComputerSystem.Reset`) {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const { ResetType } = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { ResetType?: string };
      if (ResetType !== "ForceOff") return send(400, { error: { message: `ResetType ${ResetType ?? "?"} not supported by the test BMC` } });
      bmc.resets++;
      bmc.resetTimes.push(performance.now());
      await crash();
      return send(204);
    }
    return send(404, { error: { message: `no ${req.method ?? "?"} ${req.url ?? "?"}` } });
  };

  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => void handle(req, res).catch(() => res.writeHead(500).end()));
    await new Promise<void>((resolve, reject) => s.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    address: `http://127.0.0.1:${port}`,
    systemId,
    get resets() {
      return bmc.resets;
    },
    get unauthorized() {
      return bmc.unauthorized;
    },
    get resetTimes() {
      return bmc.resetTimes;
    },
    follow(pid) {
      daemonPid = pid;
      void processes();
    },
    processes,
    crash,
    unplug: stop,
    plugIn: listen,
    close: stop,
  };
}
