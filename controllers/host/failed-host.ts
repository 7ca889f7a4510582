// A Host in an HA failover, as its status shows it: the HAPolicy controller records the failover
// in the policy's status (src/fleet/failovers.ts); the Host controller, the writer of Host status,
// reads it from there: Ready=False HostFailed, Fenced (True once the fence is confirmed, with
// status.fencedAt), and the phase Suspect / Fencing / Fenced.
import type { HostStatus } from "../../src/api/index.ts";
import type { Failover } from "../../src/fleet/failovers.ts";

type SetCondition = (c: { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string }) => void;

export const Fenced = "Fenced";

/** Applies a failover (or its end) to the host's status; true when the host is in one (Ready was set False). */
export function showFailover(status: HostStatus, failover: Failover | undefined, setCondition: SetCondition): boolean {
  const fenced = status.conditions?.find((c) => c.type === Fenced);
  if (!failover) {
    if (fenced?.status === "True") setCondition({ type: Fenced, status: "False", reason: "HostReturned", message: "the host's heartbeat is back; its failover is closed" });
    return false;
  }
  if (failover.phase === "Suspect") {
    status.phase = "Suspect";
    return false; // not failed yet: Ready is what the host's observation says
  }
  const message = `HA failover ${failover.phase}${failover.message ? `: ${failover.message}` : ""}`;
  setCondition({ type: "Ready", status: "False", reason: "HostFailed", message });
  if (failover.fencedAt) {
    status.fencedAt = failover.fencedAt;
    setCondition({ type: Fenced, status: "True", reason: "FenceConfirmed", message: failover.message ?? "confirmed off" });
    status.phase = "Fenced";
  } else {
    setCondition({ type: Fenced, status: "False", reason: failover.phase === "Blocked" ? "FenceNotConfirmed" : "Fencing", message });
    status.phase = "Fencing";
  }
  return true;
}
