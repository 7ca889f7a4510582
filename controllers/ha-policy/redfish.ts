// A Redfish client for fencing: ComputerSystem.Reset ForceOff, then PowerState polled until Off.
// A fence counts only once the BMC REPORTS the system Off — a Reset that returned 204 is not a
// confirmation. Plain node:http(s) so a BMC's own CA (or a lab's insecureSkipVerify) applies to
// this connection only. Credentials go into the Authorization header and nowhere else: errors
// carry the URL path and the HTTP status, never the header.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface BmcTarget {
  /** https://bmc[:port] (or a system's full URL, …/redfish/v1/Systems/<id>); http only for tests on loopback. */
  address: string;
  username: string;
  password: string;
  tls?: { insecureSkipVerify?: boolean; caPem?: string };
}

interface Reply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

export class RedfishError extends Error {
  override name = "RedfishError";
}

function call(target: BmcTarget, method: "GET" | "POST", path: string, body: unknown, signal: AbortSignal): Promise<Reply> {
  const base = new URL(target.address);
  const url = new URL(path, `${base.protocol}//${base.host}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const auth = Buffer.from(`${target.username}:${target.password}`).toString("base64");
  const headers: Record<string, string> = { Accept: "application/json", Authorization: `Basic ${auth}`, ...(payload ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } : {}) };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const tls = url.protocol === "https:" ? { rejectUnauthorized: !(target.tls?.insecureSkipVerify ?? false), ...(target.tls?.caPem ? { ca: target.tls.caPem } : {}) } : {};
  return new Promise<Reply>((resolve, reject) => {
    const req = send(url, { method, headers, signal, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      res.on("error", reject);
    });
    req.on("error", (err) => reject(new RedfishError(`${method} ${url.pathname} on ${url.host}: ${err.message}`)));
    req.end(payload);
  });
}

function json(reply: Reply, what: string): Record<string, unknown> {
  if (reply.status === 401 || reply.status === 403) throw new RedfishError(`${what}: the BMC refused the credentials (HTTP ${reply.status})`);
  if (reply.status < 200 || reply.status >= 300) throw new RedfishError(`${what}: HTTP ${reply.status}`);
  try {
    return JSON.parse(reply.body) as Record<string, unknown>;
  } catch {
    throw new RedfishError(`${what}: the BMC's answer is not JSON`);
  }
}

/** The system's path: the one in the address, else the only (first) member of /redfish/v1/Systems. */
export async function systemPath(target: BmcTarget, signal: AbortSignal): Promise<string> {
  const path = new URL(target.address).pathname.replace(/\/+$/, "");
  if (/\/redfish\/v1\/Systems\/[^/]+$/.test(path)) return path;
  const systems = json(await call(target, "GET", "/redfish/v1/Systems", undefined, signal), "listing the BMC's systems");
  const first = (systems["Members"] as { "@odata.id"?: string }[] | undefined)?.[0]?.["@odata.id"];
  if (!first) throw new RedfishError("the BMC lists no system under /redfish/v1/Systems");
  return first;
}

/** The system's PowerState as the BMC reports it (On, Off, PoweringOn, PoweringOff). */
export async function powerState(target: BmcTarget, system: string, signal: AbortSignal): Promise<string> {
  const body = json(await call(target, "GET", system, undefined, signal), `reading ${system}`);
  const state = body["PowerState"];
  return typeof state === "string" ? state : "Unknown";
}

/**
 * Powers the system off and returns once the BMC reports it Off (polled every pollMs), or throws
 * when it does not within the signal's time. A system already Off is not reset again.
 */
export async function forceOff(target: BmcTarget, signal: AbortSignal, pollMs = 250): Promise<{ system: string; polls: number }> {
  const system = await systemPath(target, signal);
  if ((await powerState(target, system, signal)) === "Off") return { system, polls: 1 };
  const reset = await call(target, "POST", `${system}/Actions/ComputerSystem.Reset`, { ResetType: "ForceOff" }, signal);
  if (reset.status === 401 || reset.status === 403) throw new RedfishError(`ForceOff of ${system}: the BMC refused the credentials (HTTP ${reset.status})`);
  if (reset.status < 200 || reset.status >= 300) throw new RedfishError(`ForceOff of ${system}: HTTP ${reset.status} ${reset.body.slice(0, 200)}`);
  for (let polls = 1; ; polls++) {
    if ((await powerState(target, system, signal)) === "Off") return { system, polls };
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, pollMs);
      signal.addEventListener("abort", () => (clearTimeout(t), reject(new RedfishError(`${system} still not Off after ForceOff`))), { once: true });
    });
  }
}
