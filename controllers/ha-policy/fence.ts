// Fencing a failed host, confirmed by observation (a call returning is not a confirmation):
//   OutOfBand Redfish — ForceOff, then the BMC reports PowerState Off (redfish.ts);
//   HypervisorAPI     — every managed VM hard-stopped through the host's own API, then a listing
//                       shows none running; valid only while that API answers;
//   None              — never confirmed: the failover stays Blocked while fencing is required.
// IPMI and Watchdog are not implemented yet (Blocked, saying so). BMC credentials come from the
// Host's fencing Secret and never reach a log line, an Event or status.
import type { CoreV1Api } from "@kubernetes/client-node";
import type { Session } from "../../drivers/contract/index.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { describeError } from "../../src/runtime/log.ts";
import { forceOff, type BmcTarget } from "./redfish.ts";

export type FenceResult = { confirmed: true; message: string } | { confirmed: false; reason: string; message: string };

export interface FenceDeps {
  secrets: CoreV1Api;
  /** A fresh session to the host (closed by the caller of fence), within the signal's time. */
  connect: (host: HostObject, signal: AbortSignal) => Promise<Session>;
}

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
      return blocked("FenceUnsupported", `fencing method Watchdog is not implemented yet: host ${name} cannot be confirmed off`);
    case "HypervisorAPI":
      return viaHypervisor(host, deps, timeoutMs);
    case "OutOfBand":
      return outOfBand(host, deps, timeoutMs);
  }
}

async function outOfBand(host: HostObject, deps: FenceDeps, timeoutMs: number): Promise<FenceResult> {
  const bmc = host.spec.fencing?.outOfBand;
  if (!bmc) return blocked("NoFencing", "method OutOfBand without outOfBand settings");
  if (bmc.protocol !== "Redfish") return blocked("FenceUnsupported", `out-of-band protocol ${bmc.protocol} is not implemented yet: host ${host.metadata.name} cannot be confirmed off`);
  let target: BmcTarget;
  try {
    target = { address: bmc.address, ...(await bmcCredentials(deps.secrets, bmc.credentialsSecretRef)), ...(bmc.tls ? { tls: { insecureSkipVerify: bmc.tls.insecureSkipVerify, ...(bmc.tls.caBundle ? { caPem: bmc.tls.caBundle } : {}) } } : {}) };
  } catch (err) {
    return blocked("FenceCredentialsUnavailable", describeError(err));
  }
  try {
    const { system } = await forceOff(target, AbortSignal.timeout(timeoutMs));
    return { confirmed: true, message: `the BMC reports ${system} Off after ForceOff (Redfish)` };
  } catch (err) {
    return blocked("FenceFailed", `Redfish fence of host ${host.metadata.name} failed: ${describeError(err)}`);
  }
}

/** username and password from the fencing Secret; what failed is said, the content never. */
async function bmcCredentials(secrets: CoreV1Api, ref: { name: string; namespace: string }): Promise<{ username: string; password: string }> {
  let data: Record<string, string> | undefined;
  try {
    data = (await secrets.readNamespacedSecret({ name: ref.name, namespace: ref.namespace })).data;
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
