// VM disks on the host: qcow2 overlays over a base image from the image store, or blank qcow2
// disks, created with qemu-img in the host's disk directory (ADR 0004: local files now; libvirt
// storage volumes are the way for hosts whose filesystem we cannot reach).
import { execFile } from "node:child_process";
import { access, mkdir, readFile, rm } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { NotFoundError, RetryableError, TerminalError } from "../contract/index.ts";

const run = promisify(execFile);

/** What an image directory offers: a base disk and, for direct kernel boot, a kernel. */
export interface ImageFiles {
  disk?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Resolves an image name in the store; NotFoundError (reason image-missing) when absent. */
export async function resolveImage(store: string, name: string): Promise<ImageFiles> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new TerminalError(`image name "${name}" is not a plain directory name`, { reason: "invalid-spec" });
  const dir = join(store, name);
  const files: ImageFiles = {};
  if (await exists(join(dir, "disk.qcow2"))) files.disk = join(dir, "disk.qcow2");
  if (await exists(join(dir, "vmlinuz"))) files.kernel = join(dir, "vmlinuz");
  if (await exists(join(dir, "initrd.img"))) files.initrd = join(dir, "initrd.img");
  if (await exists(join(dir, "cmdline"))) files.cmdline = (await readFile(join(dir, "cmdline"), "utf8")).trim();
  if (!files.disk && !files.kernel) throw new NotFoundError(`image "${name}" not found in ${store}`, { reason: "image-missing" });
  return files;
}

/** Creates a qcow2 disk unless it already exists (a retried create reuses it). */
export async function createDisk(path: string, opts: { backing?: string; sizeGiB?: number }): Promise<void> {
  if (await exists(path)) return;
  await mkdir(resolve(path, ".."), { recursive: true });
  const args = ["create", "-q", "-f", "qcow2"];
  if (opts.backing) args.push("-b", opts.backing, "-F", "qcow2");
  args.push(path);
  if (opts.sizeGiB !== undefined) args.push(`${opts.sizeGiB}G`);
  else if (!opts.backing) throw new TerminalError(`disk ${path}: a blank disk needs sizeGiB`, { reason: "invalid-spec" });
  try {
    await run("qemu-img", args);
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    if (/No space left/i.test(msg)) throw new RetryableError(`qemu-img: ${msg}`, { reason: "no-space", cause: err });
    throw new TerminalError(`qemu-img create ${path}: ${msg}`, { reason: "disk-create-failed", cause: err });
  }
}

/** Removes files the driver created, but only inside its own directory (never a base image). */
export async function removeOwnFiles(dir: string, paths: string[]): Promise<void> {
  const root = resolve(dir) + sep;
  for (const p of paths) {
    if (resolve(p).startsWith(root)) await rm(p, { force: true });
  }
}
