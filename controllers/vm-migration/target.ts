// Where a VM goes: the VMMigration's targetHost, checked, or placement's choice among the hosts in
// the VM's scope — never its current host, always one of the same driver kind.
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";
import { candidates, placementRequest, type Fleet } from "../../src/fleet/placement-input.ts";
import { place } from "../../src/placement/place.ts";

export type TargetChoice = { host: string; message: string } | { failed: string; message: string };

export function chooseTarget(fleet: Fleet, vm: VmObject, source: HostObject, wanted: string | undefined, round = 0): TargetChoice {
  const from = source.metadata.name;
  if (wanted === from) return { failed: "AlreadyOnTarget", message: `the VM is already on host ${from}` };
  if (wanted !== undefined) {
    const target = fleet.hosts.find((h) => h.metadata.name === wanted);
    if (!target) return { failed: "TargetNotFound", message: `host ${wanted} does not exist` };
    if (target.spec.endpoint === source.spec.endpoint) {
      return { failed: "SameMachine", message: `host ${wanted} has the same endpoint as the VM's host ${from} (${source.spec.endpoint}): they are one machine, there is nowhere to move to` };
    }
    if (target.spec.driver !== source.spec.driver) {
      return { failed: "DriverMismatch", message: `host ${wanted} runs ${target.spec.driver}, the VM's host ${from} runs ${source.spec.driver}: a VM moves only between hosts of one driver` };
    }
  }
  const request = { ...placementRequest(vm, fleet), driver: source.spec.driver };
  // another Host object for the same machine (the same endpoint) is no target either
  const sameMachine = new Set(fleet.hosts.filter((h) => h.spec.endpoint === source.spec.endpoint).map((h) => h.metadata.name));
  const hosts = candidates(fleet, vm).filter((c) => !sameMachine.has(c.name) && (wanted === undefined || c.name === wanted));
  const decision = place(request, hosts, { round });
  if (decision.host === undefined) {
    const scope = wanted !== undefined ? `host ${wanted} cannot take the VM` : `no other host of the VM's scope can take it`;
    return { failed: wanted !== undefined ? "TargetUnsuitable" : "NoTarget", message: `${scope}: ${decision.message}` };
  }
  return { host: decision.host, message: decision.message };
}
