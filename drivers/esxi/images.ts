// Disks from images. A standalone ESXi host cannot clone (CloneVM_Task is NotSupported without
// vCenter), so a disk "from an image" is a copy of the image's VMDK, made with
// VirtualDiskManager.CopyVirtualDisk_Task before the VM is created and then attached as an
// existing disk. Images live in the host's datastore: "[datastore] omnivisor-images/<name>.vmdk",
// or a full datastore path ("[ds] dir/disk.vmdk") as the image name.
import { NotFoundError, RetryableError, type VmIdentity, type VmSpec } from "../contract/index.ts";
import { waitTask } from "./tasks.ts";
import type { VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { VimFault } from "./vim25/faults.ts";
import { startTask } from "./vim25/tasks.ts";

export const imageFolder = "omnivisor-images";
/** Copied disks live beside the VM's folder, keyed by uid, so a retried create finds its copy. */
export const diskFolder = "omnivisor-disks";

export function imagePath(image: string, datastore: string): string {
  return image.startsWith("[") ? image : `[${datastore}] ${imageFolder}/${image}.vmdk`;
}

export function copiedDiskPath(identity: VmIdentity, disk: string, datastore: string): string {
  return `[${datastore}] ${diskFolder}/${identity.uid}/${disk.replace(/[^A-Za-z0-9_.-]/g, "-")}.vmdk`;
}

function isFault(err: unknown, ...faults: string[]): boolean {
  return err instanceof VimFault && faults.includes(err.fault);
}

/**
 * Copies every image disk of the spec and returns disk name → copied VMDK path. A copy that
 * already exists (a create retried after a crash) is used as it is.
 */
export interface CopyTarget {
  datacenter: MoRef;
  datastore: string;
  /** How long to wait for each copy before leaving it to finish. */
  waitMs: number;
  /** Copies left running, by target path: a retried create waits for them instead of taking a half-copied disk. */
  running: Map<string, MoRef>;
}

export async function copyImageDisks(client: VimClient, identity: VmIdentity, spec: VmSpec, where: CopyTarget): Promise<Map<string, string>> {
  const { datacenter, datastore, waitMs, running } = where;
  const copies = new Map<string, string>();
  const fromImages = spec.disks.filter((d) => d.image !== undefined);
  if (!fromImages.length) return copies;
  try {
    await client.invoke("MakeDirectory", client.content.fileManager, { name: `[${datastore}] ${diskFolder}/${identity.uid}`, datacenter, createParentDirectories: true });
  } catch (err) {
    if (!isFault(err, "FileAlreadyExists")) throw err;
  }
  for (const d of fromImages) {
    const source = imagePath(d.image!, datastore);
    const target = copiedDiskPath(identity, d.name, datastore);
    try {
      const task =
        running.get(target) ??
        (await startTask(client, "CopyVirtualDisk_Task", client.content.virtualDiskManager, { sourceName: source, sourceDatacenter: datacenter, destName: target, destDatacenter: datacenter }));
      const info = await waitTask(client, task, "CopyVirtualDisk_Task", waitMs);
      if (info.state !== "success" && info.state !== "error") {
        running.set(target, task);
        throw new RetryableError(`disk ${d.name}: copying image ${source} is still under way`, { reason: "in-progress" });
      }
      running.delete(target);
      if (info.error) throw info.error;
    } catch (err) {
      if (isFault(err, "FileNotFound")) throw new NotFoundError(`disk ${d.name}: image ${source} does not exist on this host`, { reason: "image-missing" });
      if (!isFault(err, "FileAlreadyExists")) throw err;
    }
    copies.set(d.name, target);
  }
  return copies;
}

/** Removes the folder of copied disks once the VM (and with it its disks) is destroyed. */
export async function removeCopiedDisks(client: VimClient, datacenter: MoRef, identity: VmIdentity, datastore: string): Promise<void> {
  try {
    await startTask(client, "DeleteDatastoreFile_Task", client.content.fileManager, { name: `[${datastore}] ${diskFolder}/${identity.uid}`, datacenter });
  } catch (err) {
    if (!isFault(err, "FileNotFound")) throw err;
  }
}
