// An IPMI v2.0 fencing client: `chassis power off`, then `chassis power status` polled until the
// BMC REPORTS the chassis off — the command returning is not a confirmation. It runs ipmitool
// (lanplus: RMCP+ with RAKP authentication and an integrity/confidentiality cipher suite; ADR 0039)
// with the password in the child's environment (IPMI_PASSWORD, read by `-E`), never in its argv,
// where any local user could read it in /proc; the child gets no other environment than PATH.
// Errors carry ipmitool's own message and exit code, with the password masked should a BMC ever
// echo it.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

export interface IpmiTarget {
  /** host[:port] of the BMC's IPMI-over-LAN service (port 623 by default); [v6]:port for IPv6. */
  address: string;
  username: string;
  password: string;
}

export class IpmiError extends Error {
  override name = "IpmiError";
}

/** host and port of a BMC address (host, host:port, [v6] or [v6]:port). */
export function bmcEndpoint(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m?.[1]) throw new IpmiError(`the BMC address ${address} is not host[:port]`);
  const port = m[2] === undefined ? 623 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new IpmiError(`the BMC address ${address} has no valid port`);
  return { host: m[1], port };
}

/** One ipmitool command against the BMC; its stdout. One retransmission, 1 s apart: the caller's signal bounds the rest. */
export function ipmitool(target: IpmiTarget, command: string[], signal: AbortSignal): Promise<string> {
  const { host, port } = bmcEndpoint(target.address);
  const args = ["-I", "lanplus", "-H", host, "-p", String(port), "-U", target.username, "-E", "-N", "1", "-R", "2", ...command];
  const mask = (s: string): string => (target.password ? s.split(target.password).join("***") : s);
  return new Promise<string>((resolve, reject) => {
    execFile("ipmitool", args, { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", IPMI_PASSWORD: target.password }, signal, timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const what = `ipmitool ${command.join(" ")} at ${host}:${port}`;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return reject(new IpmiError(`${what}: ipmitool is not installed (the operator's image carries it; elsewhere install the ipmitool package)`));
      if (signal.aborted || code === "ABORT_ERR") return reject(new IpmiError(`${what}: no answer in time`));
      const said = mask(stderr.trim().split("\n").filter(Boolean).slice(-2).join("; ")) || `exit code ${String(code)}`;
      const hint = /Unable to establish IPMI v2/.test(stderr) ? " (the BMC is unreachable, or it refused the credentials)" : "";
      reject(new IpmiError(`${what}: ${said}${hint}`));
    });
  });
}

/** The chassis power as the BMC reports it. */
export async function chassisPower(target: IpmiTarget, signal: AbortSignal): Promise<"on" | "off"> {
  const out = await ipmitool(target, ["chassis", "power", "status"], signal);
  const m = /Chassis Power is (on|off)/i.exec(out);
  if (!m?.[1]) throw new IpmiError(`chassis power status: unexpected answer ${JSON.stringify(out.trim().slice(0, 100))}`);
  return m[1].toLowerCase() as "on" | "off";
}

/**
 * Powers the chassis off and returns once the BMC reports it off (polled every pollMs), or throws
 * when it does not within the signal's time. A chassis already off is not powered off again.
 */
export async function chassisPowerOff(target: IpmiTarget, signal: AbortSignal, pollMs = 250): Promise<{ polls: number }> {
  if ((await chassisPower(target, signal)) === "off") return { polls: 1 };
  await ipmitool(target, ["chassis", "power", "off"], signal);
  for (let polls = 1; ; polls++) {
    if ((await chassisPower(target, signal)) === "off") return { polls };
    await sleep(pollMs, undefined, { signal }).catch(() => {
      throw new IpmiError("the chassis is still not off after power off");
    });
  }
}
