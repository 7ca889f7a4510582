// A member as the VirtualMachine the VApp controller applies: named <vapp>-<member>, controlled by
// the VApp (the garbage collector deletes it with the VApp), labelled with the member's labels,
// the vApp's name and the vApp's own omnivisor.io/ labels (e.g. the scope a manager serves), its
// spec the member's spec with the power the start order allows now. Pure.
import { createHash } from "node:crypto";
import type { VAppSpec, VirtualMachineTemplateSpec } from "../../src/api/index.ts";
import { group, version, virtualMachineTemplateSpec } from "../../src/api/index.ts";
import type { VAppObject, VmObject } from "../../src/fleet/kinds.ts";
import type { OwnerReference } from "../../src/runtime/resource.ts";

export type Member = VAppSpec["members"][number];

/** The vApp a VirtualMachine belongs to (when its name fits a label value: 63 characters). */
export const vAppLabel = "omnivisor.io/vapp";
/** The member a VirtualMachine is. */
export const memberLabel = "omnivisor.io/vapp-member";
/** A digest of what the VApp controller last applied to the VM (labels and spec): a changed member shows as a different digest. */
export const appliedAnnotation = "omnivisor.io/vapp-applied";

export const vmNameOf = (vapp: string, member: string): string => `${vapp}-${member}`;

export interface DesiredVm {
  apiVersion: string;
  kind: "VirtualMachine";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
  spec: VirtualMachineTemplateSpec;
}

type PowerState = NonNullable<Member["spec"]["powerState"]>;

export function ownerReference(vapp: VAppObject): OwnerReference {
  return { apiVersion: `${group}/${version}`, kind: "VApp", name: vapp.metadata.name, uid: vapp.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

/** The vApp's labels its VMs carry too: the omnivisor.io/ ones (a tool's own labels, e.g. Argo CD's tracking label, stay on the VApp). */
function carried(vapp: VAppObject): Record<string, string> {
  return Object.fromEntries(Object.entries(vapp.metadata.labels ?? {}).filter(([k]) => k.startsWith("omnivisor.io/") && k !== vAppLabel && k !== memberLabel));
}

/**
 * The member's spec with the defaults the VirtualMachine schema gives a VM (a member's spec sits in
 * a list item, where the API server stores none): what the VM holds once made, so comparing the
 * two finds only real differences.
 */
function withVmDefaults(spec: Member["spec"]): VirtualMachineTemplateSpec {
  const parsed = virtualMachineTemplateSpec.safeParse(spec);
  return parsed.success ? parsed.data : (spec as VirtualMachineTemplateSpec);
}

export function desiredVm(vapp: VAppObject, member: Member, powerState: PowerState): DesiredVm {
  // a label value holds 63 characters: a longer vApp name is found through the owner reference only
  const named: Record<string, string> = vapp.metadata.name.length <= 63 ? { [vAppLabel]: vapp.metadata.name } : {};
  const labels = { ...carried(vapp), ...(member.labels ?? {}), ...named, [memberLabel]: member.name };
  const spec = { ...withVmDefaults(member.spec), powerState };
  const digest = createHash("sha256").update(canonical({ labels, spec })).digest("hex").slice(0, 16);
  return {
    apiVersion: `${group}/${version}`,
    kind: "VirtualMachine",
    metadata: { name: vmNameOf(vapp.metadata.name, member.name), namespace: vapp.metadata.namespace ?? "", labels, annotations: { [appliedAnnotation]: digest }, ownerReferences: [ownerReference(vapp)] },
    spec,
  };
}

/** The VM as applied already: the same digest, and its spec not changed by someone else since. */
export function upToDate(vm: VmObject, desired: DesiredVm): boolean {
  return vm.metadata.annotations?.[appliedAnnotation] === desired.metadata.annotations[appliedAnnotation] && canonical(vm.spec) === canonical(desired.spec);
}

/** Whose a VM of a member's name is: this vApp's, an earlier vApp of the same name's (the garbage collector takes it), or someone else's. */
export function ownership(vm: VmObject, vapp: VAppObject): "ours" | "earlier" | "foreign" {
  const controller = vm.metadata.ownerReferences?.find((r) => r.controller === true);
  if (controller?.uid === vapp.metadata.uid) return "ours";
  if (controller?.kind === "VApp" && controller.name === vapp.metadata.name) return "earlier";
  return "foreign";
}

/** JSON with object keys sorted (what the API server gives back is reordered). */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
