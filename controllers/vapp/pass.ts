// What one pass over a VApp works from, resolved once at its start: the start groups, each
// member's VirtualMachine (this vApp's, or one in the way), this vApp's VMs of members no longer
// in the spec, and each member's state as the start order needs it.
import type { VAppStatus } from "../../src/api/index.ts";
import type { VAppObject, VmObject } from "../../src/fleet/kinds.ts";
import type { ReconcileContext } from "../../src/runtime/controller.ts";
import type { FailureTiming } from "./failure.ts";
import { provisioned } from "./failure.ts";
import type { MemberVmWriter } from "./member-vms.ts";
import { ownership, vmNameOf, type Member } from "./members.ts";
import { startGroups, type Group, type MemberState } from "./start-order.ts";

export type Ctx = ReconcileContext<VAppObject, VAppStatus>;

/** What the controller gives every pass. */
export interface VAppEnv {
  /** The VirtualMachines labelled for this vApp (omnivisor.io/vapp) in its namespace. */
  labelled(vapp: VAppObject): VmObject[];
  vm(namespace: string, name: string): VmObject | undefined;
  writer: MemberVmWriter;
  timing: FailureTiming;
  now(): number;
}

export interface VAppPass {
  ctx: Ctx;
  env: VAppEnv;
  vapp: VAppObject;
  groups: Group[];
  /** Member name → its VM, when the VM is this vApp's. */
  owned: Map<string, VmObject>;
  /** Member name → a VM of its name that is not this vApp's (someone else's, or an earlier vApp's of the same name). */
  inTheWay: Map<string, { vm: VmObject; whose: "earlier" | "foreign" }>;
  /** This vApp's VMs whose member was removed from the spec. */
  removed: VmObject[];
  state: (member: string) => MemberState;
}

/**
 * Members whose VM the cache does not show are read from the API server before anything is
 * applied: a VM of that name made a moment ago by someone else (not in the cache yet, or outside
 * a label-filtered cache) must not be taken over by the apply.
 */
export async function openPass(ctx: Ctx, env: VAppEnv): Promise<VAppPass> {
  const vapp = ctx.object;
  const namespace = vapp.metadata.namespace ?? "";
  const owned = new Map<string, VmObject>();
  const inTheWay = new Map<string, { vm: VmObject; whose: "earlier" | "foreign" }>();
  const vms = await Promise.all(vapp.spec.members.map(async (m) => {
    const name = vmNameOf(vapp.metadata.name, m.name);
    return env.vm(namespace, name) ?? (ctx.status.failure ? undefined : await env.writer.read(namespace, name));
  }));
  for (const [i, m] of vapp.spec.members.entries()) {
    const vm = vms[i];
    if (!vm) continue;
    const whose = ownership(vm, vapp);
    if (whose === "ours") owned.set(m.name, vm);
    else inTheWay.set(m.name, { vm, whose });
  }
  const wanted = new Set(vapp.spec.members.map((m) => vmNameOf(vapp.metadata.name, m.name)));
  const removed = env.labelled(vapp).filter((vm) => ownership(vm, vapp) === "ours" && !wanted.has(vm.metadata.name));
  const members = new Map<string, Member>(vapp.spec.members.map((m) => [m.name, m]));
  const state = (name: string): MemberState => memberState(members.get(name), owned.get(name));
  return { ctx, env, vapp, groups: startGroups(vapp.spec), owned, inTheWay, removed, state };
}

export function memberState(member: Member | undefined, vm: VmObject | undefined): MemberState {
  const want = member?.spec.powerState ?? "Running";
  const power = vm?.metadata.deletionTimestamp ? "Stopped" : vm?.status?.powerState;
  return {
    wantsRunning: want !== "Stopped",
    started: power === "Running" || (want === "Paused" && power === "Paused"),
    ready: vm?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    stopped: !vm || power === "Stopped" || (power === undefined && !provisioned(vm)),
  };
}

/** Every VM of this vApp: its members' and those of removed members. */
export function allOwned(pass: VAppPass): VmObject[] {
  return [...pass.owned.values(), ...pass.removed];
}
