// PropertyCollector: RetrievePropertiesEx for reads, and a private collector with CreateFilter +
// WaitForUpdatesEx as the change feed (a private collector so a long poll never blocks reads).
import type { VimClient } from "./client.ts";
import { readMoRef } from "./client.ts";
import type { Arg, MoRef } from "./encode.ts";
import { VimFault, faultFromLocalized } from "./faults.ts";
import { child, childrenNamed, textAt, type XmlElement } from "./xml.ts";

export interface ObjectContent {
  obj: MoRef;
  /** Property path → value element (read with the helpers in xml.ts). */
  props: Map<string, XmlElement>;
}

/** Which objects to read: a list of objects, or every VM of a datacenter (sub-folders included). */
export type ObjectSelection = { objects: MoRef[] } | { vmsOf: MoRef };

function objectSet(sel: ObjectSelection): Arg {
  if ("objects" in sel) return sel.objects.map((obj) => ({ obj, skip: false }));
  // Datacenter → vmFolder → childEntity (recursively), not a ContainerView and not rooted at the
  // VM folder: vcsim (govmomi 0.46.3) locks a filter whenever its root object changes, while a
  // CreateVM_Task holds the folder's lock — rooted there, a watch and a create deadlock the
  // simulator. The datacenter never changes during VM work; real ESXi does not care either way.
  return {
    obj: sel.vmsOf,
    skip: true,
    selectSet: [
      { $type: "TraversalSpec", name: "datacenterVms", type: "Datacenter", path: "vmFolder", skip: false, selectSet: [{ name: "folderChildren" }] },
      { $type: "TraversalSpec", name: "folderChildren", type: "Folder", path: "childEntity", skip: false, selectSet: [{ name: "folderChildren" }] },
    ],
  };
}

export function filterSpec(type: string, paths: string[], sel: ObjectSelection): Arg {
  return { propSet: [{ type, all: false, pathSet: paths }], objectSet: objectSet(sel) };
}

function readObject(el: XmlElement, method: string): ObjectContent {
  const props = new Map<string, XmlElement>();
  for (const p of childrenNamed(el, "propSet")) {
    const val = child(p, "val");
    if (val) props.set(textAt(p, "name") ?? "", val);
  }
  for (const missing of childrenNamed(el, "missingSet")) {
    const fault = child(missing, "fault");
    // An expired session shows up here, not as a SOAP fault: surface it so the caller re-logs in.
    if (fault && faultFromLocalized(method, fault).fault === "NotAuthenticated") throw faultFromLocalized(method, fault);
  }
  return { obj: readMoRef(child(el, "obj"))!, props };
}

export async function retrieve(client: VimClient, type: string, paths: string[], sel: ObjectSelection, signal?: AbortSignal): Promise<ObjectContent[]> {
  const generation = client.generation;
  try {
    return await retrieveOnce(client, type, paths, sel, signal);
  } catch (err) {
    if (!(err instanceof VimFault && err.fault === "NotAuthenticated")) throw err;
    if (generation === client.generation) await client.reauthenticate(signal);
    return retrieveOnce(client, type, paths, sel, signal);
  }
}

async function retrieveOnce(client: VimClient, type: string, paths: string[], sel: ObjectSelection, signal?: AbortSignal): Promise<ObjectContent[]> {
  const pc = client.content.propertyCollector;
  const out: ObjectContent[] = [];
  let res = await client.invoke("RetrievePropertiesEx", pc, { specSet: filterSpec(type, paths, sel), options: {} }, signal);
  for (;;) {
    const rv = child(res, "returnval");
    for (const o of childrenNamed(rv, "objects")) out.push(readObject(o, "RetrievePropertiesEx"));
    const token = textAt(rv, "token");
    if (!token) return out;
    res = await client.invoke("ContinueRetrievePropertiesEx", pc, { token }, signal);
  }
}

export interface PropertyChange {
  name: string;
  op: "add" | "remove" | "assign" | "indirectRemove";
  val: XmlElement | undefined;
}

export interface ObjectUpdate {
  kind: "enter" | "leave" | "modify";
  obj: MoRef;
  changes: PropertyChange[];
}

export interface UpdateBatch {
  version: string;
  updates: ObjectUpdate[];
}

/** A private PropertyCollector with one filter; `next()` long-polls WaitForUpdatesEx. */
export class ChangeFeed {
  readonly #client: VimClient;
  readonly #collector: MoRef;
  #version = "";

  private constructor(client: VimClient, collector: MoRef) {
    this.#client = client;
    this.#collector = collector;
  }

  static async open(client: VimClient, spec: Arg): Promise<ChangeFeed> {
    const res = await client.invoke("CreatePropertyCollector", client.content.propertyCollector, {});
    const collector = readMoRef(child(res, "returnval"))!;
    await client.invoke("CreateFilter", collector, { spec, partialUpdates: false });
    return new ChangeFeed(client, collector);
  }

  /** Waits up to maxWaitSeconds; resolves with no updates when nothing changed. The first call returns the full state. */
  async next(maxWaitSeconds: number, signal?: AbortSignal): Promise<UpdateBatch> {
    const res = await this.#client.invoke("WaitForUpdatesEx", this.#collector, { version: this.#version, options: { maxWaitSeconds } }, signal);
    const set = child(res, "returnval");
    if (!set) return { version: this.#version, updates: [] };
    this.#version = textAt(set, "version") ?? this.#version;
    const updates: ObjectUpdate[] = [];
    for (const fs of childrenNamed(set, "filterSet")) {
      for (const os of childrenNamed(fs, "objectSet")) {
        updates.push({
          kind: (textAt(os, "kind") ?? "modify") as ObjectUpdate["kind"],
          obj: readMoRef(child(os, "obj"))!,
          changes: childrenNamed(os, "changeSet").map((c) => ({
            name: textAt(c, "name") ?? "",
            op: (textAt(c, "op") ?? "assign") as PropertyChange["op"],
            val: child(c, "val"),
          })),
        });
      }
    }
    return { version: this.#version, updates };
  }

  async close(): Promise<void> {
    await this.#client.invoke("DestroyPropertyCollector", this.#collector, {}).catch(() => undefined);
  }
}
