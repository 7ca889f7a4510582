// Turning a domain into the contract's plain VmObservation, and finding the domain of an identity.
import type { ObservedPower, VmIdentity, VmObservation } from "../contract/index.ts";
import { canAdopt } from "../contract/index.ts";
import { parseDomainXml, parseIdentityMetadata, type DomainFacts } from "./domain-xml.ts";
import { isVirError, VirErr } from "./errors.ts";
import { uuidFromString, uuidToString, type DomainRef } from "./rpc/protocol.ts";
import { DomainState } from "./rpc/procedures.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";

/** VIR_DOMAIN_SHUTOFF_CRASHED: a shut-off domain whose guest crashed. */
const SHUTOFF_CRASHED = 3;

export function powerOf(state: number, reason: number): ObservedPower {
  switch (state) {
    case DomainState.Running:
    case DomainState.Blocked:
    case DomainState.Shutdown: // shutting down: still running until it is off
      return "Running";
    case DomainState.Paused:
    case DomainState.PmSuspended:
      return "Paused";
    case DomainState.Shutoff:
      return reason === SHUTOFF_CRASHED ? "Crashed" : "Stopped";
    case DomainState.Crashed:
      return "Crashed";
    default:
      return "Unknown";
  }
}

export function identityOf(facts: DomainFacts): VmIdentity | undefined {
  if (!facts.meta) return undefined;
  const identity: VmIdentity = { uid: facts.meta.uid, name: facts.name, externalId: facts.uuid };
  if (facts.meta.namespace !== undefined) identity.namespace = facts.meta.namespace;
  if (facts.meta.name !== undefined) identity.kubeName = facts.meta.name;
  return identity;
}

export interface Observed {
  dom: DomainRef;
  facts: DomainFacts;
  observation: VmObservation;
}

/** Reads one domain; undefined when it vanished meanwhile. */
export async function observeDomain(remote: LibvirtRemote, dom: DomainRef): Promise<Observed | undefined> {
  try {
    const [xml, state] = await Promise.all([remote.getXmlDesc(dom), remote.getState(dom)]);
    const facts = parseDomainXml(xml);
    const power = powerOf(state.state, state.reason);
    const addresses = power === "Running" && facts.macs.length > 0 ? await addressesOf(remote, dom) : [];
    const identity = identityOf(facts);
    const observation: VmObservation = {
      externalId: uuidToString(dom.uuid),
      name: dom.name,
      managed: identity !== undefined,
      power,
      cpus: facts.cpus,
      memoryMiB: facts.memoryMiB,
      addresses,
    };
    if (identity) observation.identity = identity;
    return { dom, facts, observation };
  } catch (err) {
    if (isVirError(err, VirErr.NO_DOMAIN)) return undefined;
    throw err;
  }
}

/** DHCP-leased addresses; none (not an error) when the host cannot tell, e.g. a bridge without leases. */
async function addressesOf(remote: LibvirtRemote, dom: DomainRef): Promise<string[]> {
  try {
    return (await remote.interfaceAddresses(dom)).flatMap((i) => i.addrs);
  } catch {
    return [];
  }
}

async function lookup(fn: () => Promise<DomainRef>): Promise<DomainRef | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isVirError(err, VirErr.NO_DOMAIN)) return undefined;
    throw err;
  }
}

export function isUuid(s: string | undefined): s is string {
  return s !== undefined && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/**
 * The domain carrying identity.uid. Fast paths first — the domain UUID equals the uid for VMs we
 * created, and the name is derived from the identity — then every domain's metadata (a VM adopted
 * under another name), then identity.externalId (an unmanaged VM about to be adopted).
 */
export async function findDomain(remote: LibvirtRemote, identity: VmIdentity): Promise<Observed | undefined> {
  const candidates: (() => Promise<DomainRef>)[] = [];
  if (isUuid(identity.uid)) candidates.push(() => remote.lookupByUuid(uuidFromString(identity.uid)));
  if (identity.name) candidates.push(() => remote.lookupByName(identity.name));
  for (const candidate of candidates) {
    const dom = await lookup(candidate);
    const seen = dom && (await observeDomain(remote, dom));
    if (seen?.facts.meta?.uid === identity.uid) return seen;
  }
  // A UUID uid is the domain's UUID (createVm defines it so), and renames keep the UUID: the
  // lookup above is exact. Only other uids need the scan of every domain's metadata — which, on
  // a host with hundreds of domains, made each first pass of a new VM cost hundreds of calls.
  if (!isUuid(identity.uid)) {
    const all = await remote.listAllDomains();
    const metas = await Promise.all(all.map((dom) => remote.getXmlDesc(dom).then(parseIdentityMetadata, () => undefined)));
    const match = all[metas.findIndex((m) => m?.uid === identity.uid)];
    if (match) return observeDomain(remote, match);
  }
  if (isUuid(identity.externalId)) {
    const dom = await lookup(() => remote.lookupByUuid(uuidFromString(identity.externalId!)));
    const seen = dom && (await observeDomain(remote, dom));
    return seen && canAdopt(identity, seen.facts.meta?.uid) ? seen : undefined;
  }
  return undefined;
}
