// Fencing a failed host, confirmed by observation (a call returning is not a confirmation):
//   OutOfBand Redfish — ForceOff, then the BMC reports PowerState Off (redfish.ts);
//   OutOfBand IPMI    — chassis power off, then the BMC reports the chassis off (ipmi.ts);
//   HypervisorAPI     — every managed VM hard-stopped through the host's own API, then a listing
//                       shows none running; valid only while that API answers;
//   Watchdog          — time-based (the one exception): the host's status watcher destroys its
//                       managed VMs once it has not renewed the heartbeat for selfFenceAfterSeconds
//                       (src/agent/self-fence.ts); the fence counts once the lease has been silent,
//                       as this process saw it, for its duration + that time + a margin;
//   None              — never confirmed: the failover stays Blocked while fencing is required.
// BMC credentials come from the Host's fencing Secret, only in the credentials namespaces, and
// never reach a log line, an Event or status.
import type { CoreV1Api } from "@kubernetes/client-node";
import type { Session } from "../../drivers/contract/index.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import type { CredentialsNamespaces } from "../../src/fleet/sessions.ts";
import { describeError } from "../../src/runtime/log.ts";
import { chassisPowerOff } from "./ipmi.ts";
import { forceOff, type BmcTarget } from "./redfish.ts";

export type FenceResult =
  | { confirmed: true; message: string }
  | { confirmed: false; reason: string; message: string }
  /** Watchdog: not yet — the time the status watcher has to self-fence is not over. */
  | { confirmed: false; waiting: true; message: string };

export interface FenceDeps {
  secrets: CoreV1Api;
  /**
   * The namespaces fencing Secrets may come from: the operator's credentials namespaces (ADR 0028);
   * a Host naming a Secret elsewhere is refused before anything is read.
   */
  credentialsNamespaces: CredentialsNamespaces;
  /** A fresh session to the host (closed by the caller of fence), within the signal's time. */
  connect: (host: HostObject, signal: AbortSignal) => Promise<Session>;
  /** Watchdog: how long the host's heartbeat Lease has been silent as this process saw it, and the lease's duration. */
  heartbeat?: (host: string) => { silentMs: number; leaseMs: number };
}

/** Added to the watchdog wait: the self-fence's own run time (a listing and hard stops) and a slow watcher tick. */
export const watchdogMarginMs = 3_000;

const blocked = (reason: string, message: string): FenceResult => ({ confirmed: false, reason, message });

export async function fence(host: HostObject, deps: FenceDeps): Promise<FenceResult> {
  const fencing = host.spec.fencing;
  const timeoutMs = (fencing?.timeoutSeconds ?? 30) * 1000;
  const name = host.metadata.name;
  switch (fencing?.method) {
    case undefined:
      return blocked("NoFencing", `host ${name} has no spec.fencing: it cannot be confirmed off, so its VMs are not restarted`);
    case "None":
      return blocked("FencingNone", `host ${name} has fencing method None: it cannot be confirmed off, so its VMs are not restarted while fencing is required`);
    case "Watchdog":
      return viaWatchdog(host, deps);
    case "HypervisorAPI":
      return viaHypervisor(host, deps, timeoutMs);
    case "OutOfBand":
      return outOfBand(host, deps, timeoutMs);
  }
}

async function outOfBand(host: HostObject, deps: FenceDeps, timeoutMs: number): Promise<FenceResult> {
  const bmc = host.spec.fencing?.outOfBand;
  if (!bmc) return blocked("NoFencing", "method OutOfBand without outOfBand settings");
  let login: { username: string; password: string };
  try {
    login = await bmcCredentials(deps, bmc.credentialsSecretRef);
  } catch (err) {
    return blocked(err instanceof CredentialsRefused ? "FenceCredentialsRefused" : "FenceCredentialsUnavailable", describeError(err));
  }
  if (bmc.protocol === "IPMI") {
    try {
      await chassisPowerOff({ address: bmc.address, ...login }, AbortSignal.timeout(timeoutMs));
      return { confirmed: true, message: `the BMC at ${bmc.address} reports the chassis off after power off (IPMI)` };
    } catch (err) {
      return blocked("FenceFailed", `IPMI fence of host ${host.metadata.name} failed: ${describeError(err)}`);
    }
  }
  const target: BmcTarget = { address: bmc.address, ...login, ...(bmc.tls ? { tls: { insecureSkipVerify: bmc.tls.insecureSkipVerify, ...(bmc.tls.caBundle ? { caPem: bmc.tls.caBundle } : {}) } } : {}) };
  try {
    const { system } = await forceOff(target, AbortSignal.timeout(timeoutMs));
    return { confirmed: true, message: `the BMC reports ${system} Off after ForceOff (Redfish)` };
  } catch (err) {
    return blocked("FenceFailed", `Redfish fence of host ${host.metadata.name} failed: ${describeError(err)}`);
  }
}

/** A fencing Secret outside the credentials namespaces: never read. */
class CredentialsRefused extends Error {
  override name = "CredentialsRefused";
}

/** username and password from the fencing Secret; what failed is said, the content never. */
export async function bmcCredentials(deps: Pick<FenceDeps, "secrets" | "credentialsNamespaces">, ref: { name: string; namespace: string }): Promise<{ username: string; password: string }> {
  if (!deps.credentialsNamespaces.includes(ref.namespace)) {
    throw new CredentialsRefused(`the fencing Secret ${ref.namespace}/${ref.name} is in namespace ${ref.namespace}; this operator reads credentials only from ${deps.credentialsNamespaces.join(", ")} (--credentials-namespaces)`);
  }
  let data: Record<string, string> | undefined;
  try {
    data = (await deps.secrets.readNamespacedSecret({ name: ref.name, namespace: ref.namespace })).data;
  } catch {
    throw new Error(`the fencing Secret ${ref.namespace}/${ref.name} cannot be read`);
  }
  const read = (key: string): string => {
    const v = data?.[key];
    if (v === undefined) throw new Error(`the fencing Secret ${ref.namespace}/${ref.name} has no key ${key}`);
    return Buffer.from(v, "base64").toString("utf8");
  };
  return { username: read("username"), password: read("password") };
}

async function viaHypervisor(host: HostObject, deps: FenceDeps, timeoutMs: number): Promise<FenceResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  let session: Session | undefined;
  try {
    session = await deps.connect(host, signal);
    const running = (await session.listVms()).filter((v) => v.managed && v.identity && v.power !== "Stopped" && v.power !== "Crashed");
    for (const vm of running) await session.setPower(vm.identity!, { state: "Stopped", mode: "Hard" });
    for (;;) {
      const left = (await session.listVms()).filter((v) => v.managed && v.power !== "Stopped" && v.power !== "Crashed");
      if (left.length === 0) return { confirmed: true, message: `${running.length} managed VM(s) destroyed through the hypervisor's API; its listing shows none running` };
      if (signal.aborted) return blocked("FenceFailed", `${left.length} managed VM(s) still running on host ${host.metadata.name} after destroy`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    return blocked("FenceFailed", `fencing host ${host.metadata.name} through its hypervisor API failed (valid only while that API answers): ${describeError(err)}`);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/**
 * Watchdog: confirmed by elapsed time — the lease silent (as this process saw it) for its
 * duration + the watcher's selfFenceAfterSeconds + a margin. The watcher counts from the START of
 * its last renewal that succeeded, which is never later than when this process saw it, so it has
 * destroyed the VMs before this wait is over — provided it is alive and reaches its hypervisor.
 */
function viaWatchdog(host: HostObject, deps: FenceDeps): FenceResult {
  const name = host.metadata.name;
  if (!deps.heartbeat) return blocked("FenceUnsupported", `host ${name}: Watchdog fencing needs the host's heartbeat (none followed)`);
  const selfFenceMs = (host.spec.fencing?.watchdog?.selfFenceAfterSeconds ?? 10) * 1000;
  const { silentMs, leaseMs } = deps.heartbeat(name);
  const waitMs = leaseMs + selfFenceMs + watchdogMarginMs;
  const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
  if (silentMs < waitMs) {
    return { confirmed: false, waiting: true, message: `waiting for the status watcher's self-fence: the VMs are restarted once the heartbeat has been silent for ${seconds(waitMs)} (lease ${seconds(leaseMs)} + self-fence ${seconds(selfFenceMs)} + margin ${seconds(watchdogMarginMs)})` };
  }
  return { confirmed: true, message: `time-based (Watchdog): the heartbeat has been silent ${seconds(silentMs)} ≥ lease ${seconds(leaseMs)} + self-fence ${seconds(selfFenceMs)} + margin ${seconds(watchdogMarginMs)}; its status watcher destroyed its VMs by then` };
}
