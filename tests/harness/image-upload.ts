// The test images built on this machine (scripts/tiny-vm.sh, idle-vm.sh) as upload sources for the
// libvirt driver: the bytes travel over the driver's connection into volumes on the host, which
// is how an image reaches a host whose filesystem the manager cannot see.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ImageUpload, UploadSource } from "../../drivers/libvirt/index.ts";

export async function fileSource(path: string): Promise<UploadSource> {
  const { size } = await stat(path);
  return { bytes: size, data: () => createReadStream(path) };
}

/** An image directory's parts (disk.qcow2, vmlinuz, initrd.img) as one upload. */
export async function imageUpload(files: { disk?: string; kernel?: string; initrd?: string }): Promise<ImageUpload> {
  const upload: ImageUpload = {};
  if (files.disk) upload.disk = await fileSource(files.disk);
  if (files.kernel) upload.kernel = await fileSource(files.kernel);
  if (files.initrd) upload.initrd = await fileSource(files.initrd);
  return upload;
}
