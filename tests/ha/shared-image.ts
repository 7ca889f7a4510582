// The HA test grounds' guest image: the idle VM uploaded once into the "shared" pool through the
// first host's libvirtd, and the pool refreshed on the others (they see the same directory).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { idleVmImage } from "../harness/services.ts";

const execute = promisify(execFile);

export async function seedSharedIdleImage(first: string, others: string[]): Promise<void> {
  const session = (await new LibvirtDriver().connect({ endpoint: first, libvirt: { storagePool: "shared" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await session.uploadImage("idle-vm", await imageUpload(idleVmImage()));
  } finally {
    await session.close();
  }
  for (const uri of others) await execute("virsh", ["-c", uri, "pool-refresh", "shared"]);
}
