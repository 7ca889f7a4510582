// Where things live on a standalone ESXi host: its one datacenter ("ha-datacenter"), VM folder,
// root resource pool, the HostSystem, datastores and networks. Read once per session by walking
// the inventory from the root folder, not by hard-coding ESXi's "ha-*" ids.
import { readMoRef, type VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { retrieve } from "./vim25/property-collector.ts";
import { childrenNamed, numberAt, type XmlElement } from "./vim25/xml.ts";

export interface Inventory {
  datacenter: MoRef;
  vmFolder: MoRef;
  resourcePool: MoRef;
  host: MoRef;
  datastores: MoRef[];
  /** Port group name → Network reference. */
  networks: Map<string, MoRef>;
}

function refs(val: XmlElement | undefined): MoRef[] {
  return childrenNamed(val, "ManagedObjectReference").map((e) => readMoRef(e)!);
}

function one(val: XmlElement | undefined, what: string): MoRef {
  const ref = readMoRef(val);
  if (!ref) throw new Error(`ESXi inventory has no ${what}`);
  return ref;
}

export async function readInventory(client: VimClient, signal?: AbortSignal): Promise<Inventory> {
  const [root] = await retrieve(client, "Folder", ["childEntity"], { objects: [client.content.rootFolder] }, signal);
  const datacenter = refs(root?.props.get("childEntity")).find((r) => r.type === "Datacenter");
  if (!datacenter) throw new Error("ESXi inventory has no datacenter");
  const [dc] = await retrieve(client, "Datacenter", ["vmFolder", "hostFolder"], { objects: [datacenter] }, signal);
  const [hostFolder] = await retrieve(client, "Folder", ["childEntity"], { objects: [one(dc?.props.get("hostFolder"), "host folder")] }, signal);
  const compute = refs(hostFolder?.props.get("childEntity")).find((r) => r.type.endsWith("ComputeResource"));
  if (!compute) throw new Error("ESXi inventory has no compute resource");
  const [cr] = await retrieve(client, "ComputeResource", ["host", "resourcePool"], { objects: [compute] }, signal);
  const host = refs(cr?.props.get("host"))[0];
  if (!host) throw new Error("ESXi inventory has no HostSystem");
  // The host's own lists: the datacenter's may name objects that are gone.
  const [hs] = await retrieve(client, "HostSystem", ["datastore", "network"], { objects: [host] }, signal);
  const networkRefs = refs(hs?.props.get("network"));
  const networkNames = networkRefs.length ? await retrieve(client, "Network", ["name"], { objects: networkRefs }, signal) : [];
  return {
    datacenter,
    vmFolder: one(dc?.props.get("vmFolder"), "VM folder"),
    resourcePool: one(cr?.props.get("resourcePool"), "resource pool"),
    host,
    datastores: refs(hs?.props.get("datastore")),
    networks: new Map(networkNames.map((n) => [n.props.get("name")?.text ?? "", n.obj])),
  };
}

export interface DatastoreSpace {
  name: string;
  capacityBytes: number;
  freeBytes: number;
}

export async function readDatastores(client: VimClient, datastores: MoRef[], signal?: AbortSignal): Promise<DatastoreSpace[]> {
  if (!datastores.length) return [];
  const found = await retrieve(client, "Datastore", ["summary"], { objects: datastores }, signal);
  return found.map((d) => {
    const s = d.props.get("summary");
    return { name: s?.children.find((c) => c.name === "name")?.text ?? "", capacityBytes: numberAt(s, "capacity") ?? 0, freeBytes: numberAt(s, "freeSpace") ?? 0 };
  });
}
