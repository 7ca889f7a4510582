// Where a VM's own files go, and what to make of them when they are already there.
//
// A create names its .vmx file exactly ([ds] <name>/<name>.vmx) instead of leaving the directory
// to the host: ESXi (and vcsim) then refuse a second create of the same file with
// FileAlreadyExists, atomically, where a bare "[ds]" would get a renamed directory ("<name> (1)")
// and a second VM. The file is the claim, and it is the VM itself: a writer that finds it taken
// looks for the VM by uid. Only a file no registered VM uses — a create that died inside the host
// — is a leftover, told by its age (the datastore browser's modification time).
import type { VimClient } from "./vim25/client.ts";
import { readMoRef } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { retrieve } from "./vim25/property-collector.ts";
import { startTask } from "./vim25/tasks.ts";
import { waitTask } from "./tasks.ts";
import { childrenNamed, textAt } from "./vim25/xml.ts";

/** The datastore path of a VM's .vmx file. */
export function vmxPath(datastore: string, name: string): string {
  return `[${datastore}] ${name}/${name}.vmx`;
}

/** The VM's directory of a .vmx path ("[ds] dir/name.vmx" → "[ds] dir"). */
export function directoryOf(vmx: string): string {
  return vmx.slice(0, vmx.lastIndexOf("/"));
}

/** When the .vmx file was last written, by the datastore browser; undefined when it is not there. */
export async function vmxModified(client: VimClient, datastores: MoRef[], vmx: string, waitMs: number): Promise<Date | undefined> {
  const store = /^\[([^\]]+)\]/.exec(vmx)?.[1] ?? "";
  return modifiedAt(client, datastores, { store, directory: directoryOf(vmx), name: vmx.slice(vmx.lastIndexOf("/") + 1) }, waitMs);
}

/** A file or folder on a datastore: `name` in `directory` (a datastore path) of datastore `store`. */
export interface DatastoreEntry {
  store: string;
  directory: string;
  name: string;
}

/** When a file or folder was last written; undefined when it is not there. */
export async function modifiedAt(client: VimClient, datastores: MoRef[], entry: DatastoreEntry, waitMs: number): Promise<Date | undefined> {
  const { store, directory, name } = entry;
  const found = await retrieve(client, "Datastore", ["summary.name", "browser"], { objects: datastores });
  const browser = readMoRef(found.find((d) => d.props.get("summary.name")?.text === store)?.props.get("browser"));
  if (!browser) return undefined;
  const task = await startTask(client, "SearchDatastore_Task", browser, {
    datastorePath: directory,
    searchSpec: { matchPattern: [name], details: { fileType: true, fileSize: false, modification: true, fileOwner: false } },
  });
  const info = await waitTask(client, task, "SearchDatastore_Task", waitMs);
  if (info.error?.fault === "FileNotFound") return undefined;
  if (info.error) throw info.error;
  const file = childrenNamed(info.result, "file").find((f) => textAt(f, "path") === name);
  if (!file) return undefined;
  // A host that does not say when: as if just written, so it is never taken for a leftover.
  const modified = textAt(file, "modification");
  return modified === undefined ? new Date() : new Date(modified);
}

/** Deletes a VM directory no VM is registered from (a leftover); absent is fine. */
export async function removeDirectory(client: VimClient, datacenter: MoRef, directory: string, waitMs: number): Promise<void> {
  const task = await startTask(client, "DeleteDatastoreFile_Task", client.content.fileManager, { name: directory, datacenter });
  const info = await waitTask(client, task, "DeleteDatastoreFile_Task", waitMs);
  if (info.error && info.error.fault !== "FileNotFound") throw info.error;
}
