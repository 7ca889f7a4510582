// How a Kubernetes VirtualMachine is named and labelled on a hypervisor. Every driver uses the
// same keys, so a person reading `docker inspect` or `virsh dumpxml` sees the same words.
import { createHash } from "node:crypto";
import type { VmIdentity } from "./types.ts";

/** Metadata keys (Docker labels, ESX extraConfig keys, XenAPI other_config keys). */
export const identityKeys = {
  uid: "io.omnivisor.uid",
  namespace: "io.omnivisor.namespace",
  name: "io.omnivisor.name",
} as const;

/** libvirt's metadata element namespace (`<omnivisor:vm xmlns:omnivisor="…">`). */
export const libvirtMetadataNamespace = "https://omnivisor.io/xmlns/libvirt/vm/1";

const maxName = 63;

/**
 * The hypervisor-side name of namespace/name: "<namespace>.<name>". A dot, because Kubernetes
 * namespaces cannot contain one, so two different VMs never share a name ("a-b"/"c" vs "a"/"b-c"
 * would with a dash). Characters no hypervisor accepts become "-"; names longer than 63
 * characters are cut and end with a hash of the full name, so they stay unique.
 */
export function hypervisorName(namespace: string, name: string): string {
  const full = `${namespace}.${name}`.toLowerCase().replace(/[^a-z0-9.-]/g, "-");
  if (full.length <= maxName) return full;
  const hash = createHash("sha256").update(`${namespace}/${name}`).digest("hex").slice(0, 8);
  return `${full.slice(0, maxName - hash.length - 1)}-${hash}`;
}

/** The identity of a VirtualMachine, from the fields a controller has at hand. */
export function vmIdentity(vm: { uid: string; namespace: string; name: string }, externalId?: string): VmIdentity {
  const identity: VmIdentity = { uid: vm.uid, name: hypervisorName(vm.namespace, vm.name), namespace: vm.namespace, kubeName: vm.name };
  if (externalId !== undefined) identity.externalId = externalId;
  return identity;
}

/**
 * Whether the VM found at identity.externalId (adoption) may be taken: it carries no uid, this
 * uid, or an orphan's uid the controller allows (identity.mayAdopt). Never another VM's.
 */
export function canAdopt(identity: VmIdentity, carriedUid: string | undefined): boolean {
  return carriedUid === undefined || carriedUid === identity.uid || identity.mayAdopt?.(carriedUid) === true;
}

/** The identity metadata a driver stores with a VM (as labels, extraConfig, ...). */
export function identityMetadata(identity: VmIdentity): Record<string, string> {
  const meta: Record<string, string> = { [identityKeys.uid]: identity.uid };
  if (identity.namespace !== undefined) meta[identityKeys.namespace] = identity.namespace;
  if (identity.kubeName !== undefined) meta[identityKeys.name] = identity.kubeName;
  return meta;
}

/** Reads identity back from stored metadata; undefined for an unmanaged VM (no uid). */
export function identityFromMetadata(meta: Record<string, string> | undefined, name: string, externalId: string): VmIdentity | undefined {
  const uid = meta?.[identityKeys.uid];
  if (uid === undefined || uid === "") return undefined;
  const identity: VmIdentity = { uid, name, externalId };
  const ns = meta?.[identityKeys.namespace];
  const kubeName = meta?.[identityKeys.name];
  if (ns !== undefined) identity.namespace = ns;
  if (kubeName !== undefined) identity.kubeName = kubeName;
  return identity;
}
