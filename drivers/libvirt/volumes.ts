// VM disks and images as volumes of a libvirt storage pool on the host, made, sized, filled and
// removed through the remote protocol — never on the manager's filesystem, so a host reached over
// qemu+tcp:// or qemu+tls:// works like a local one (ADR 0015).
//
// Names: a VM's disk is `<uid>-<disk>.qcow2` (a failed create leaves nothing another VM could
// pick up, and its retry finds and reuses what the first attempt made); an image `X` is the
// volumes `X.qcow2` (base disk) and, for direct kernel boot, `X.vmlinuz` and `X.initrd`. An image
// written `pool/X` lives in another pool of the same host.
import { Readable } from "node:stream";
import { CapacityError, NotFoundError, TerminalError } from "../contract/index.ts";
import { escapeXml } from "./domain-xml.ts";
import { isVirError, VirErr } from "./errors.ts";
import { PoolState } from "./rpc/procedures.ts";
import type { StoragePoolRef, StorageVolRef } from "./rpc/protocol.ts";
import type { LibvirtRemote, PoolInfo } from "./rpc/remote.ts";

/** The pool the driver uses when the Host names none; made on first use if the host lacks it. */
export const defaultPoolName = "omnivisor";
/** Where that pool keeps its volumes: beside libvirt's own default pool (/var/lib/libvirt/images). */
export const defaultPoolPath = "/var/lib/libvirt/omnivisor";

const GiB = 2n ** 30n;
const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** What an image offers on the host: paths of its volumes there. */
export interface ImageVolumes {
  disk?: { path: string; capacity: bigint };
  kernel?: string;
  initrd?: string;
}

/** Bytes to upload as one volume (a local file, a generated seed, ...). */
export interface UploadSource {
  bytes: number;
  data: () => AsyncIterable<Uint8Array>;
}

/** The parts of an image to upload; the names follow the image naming above. */
export interface ImageUpload {
  disk?: UploadSource;
  kernel?: UploadSource;
  initrd?: UploadSource;
}

const imageSuffix = { disk: ".qcow2", kernel: ".vmlinuz", initrd: ".initrd" } as const;

/** The volume name of one of a VM's disks. */
export function diskVolumeName(uid: string, disk: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(uid)) throw new TerminalError(`uid "${uid}" cannot name a volume`, { reason: "invalid-spec" });
  if (!plainName.test(disk)) throw new TerminalError(`disk name "${disk}" is not a plain name (letters, digits, . _ -)`, { reason: "invalid-spec" });
  return `${uid}-${disk}.qcow2`;
}

/** The volume name of a VM's cloud-init seed: named by its uid like its disks, so deleteVm removes it with them. */
export function seedVolumeName(uid: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(uid)) throw new TerminalError(`uid "${uid}" cannot name a volume`, { reason: "invalid-spec" });
  return `${uid}-cidata.iso`;
}

/** `X` or `pool/X` → the pool (undefined: the host's pool) and the image name. */
export function parseImageRef(ref: string): { pool?: string; name: string } {
  const slash = ref.indexOf("/");
  const [pool, name] = slash < 0 ? [undefined, ref] : [ref.slice(0, slash), ref.slice(slash + 1)];
  if (!plainName.test(name) || (pool !== undefined && !plainName.test(pool))) {
    throw new TerminalError(`image "${ref}" is not an image name or pool/name`, { reason: "invalid-spec" });
  }
  return pool === undefined ? { name } : { pool, name };
}

/** The XML of a qcow2 volume: blank with a capacity, or an overlay over a backing volume's path. */
export function diskVolumeXml(name: string, capacity: bigint, backing?: string): string {
  const backingStore = backing ? `<backingStore><path>${escapeXml(backing)}</path><format type="qcow2"/></backingStore>` : "";
  return `<volume><name>${escapeXml(name)}</name><capacity unit="bytes">${capacity}</capacity><allocation unit="bytes">0</allocation><target><format type="qcow2"/></target>${backingStore}</volume>`;
}

export function dirPoolXml(name: string, path: string): string {
  return `<pool type="dir"><name>${escapeXml(name)}</name><target><path>${escapeXml(path)}</path></target></pool>`;
}

async function orMissing<T>(p: Promise<T>, code: number): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isVirError(err, code)) return undefined;
    throw err;
  }
}

/** One host's storage pool, looked up (or made, for the default pool) once per session. */
export class HostStorage {
  private readonly remote: LibvirtRemote;
  readonly poolName: string;
  private readonly createIfMissing: boolean;
  /** Other hosts write to this pool too (shared storage): a volume we do not know may be on disk. */
  private readonly shared: boolean;
  private poolRef: Promise<StoragePoolRef> | undefined;

  constructor(remote: LibvirtRemote, poolName: string, opts: { createIfMissing: boolean; shared?: boolean }) {
    this.remote = remote;
    this.poolName = poolName;
    this.createIfMissing = opts.createIfMissing;
    this.shared = opts.shared ?? false;
  }

  /** The pool, active. A pool the admin named must exist; the default one is defined and started. */
  pool(): Promise<StoragePoolRef> {
    this.poolRef ??= this.ensurePool().catch((err: unknown) => {
      this.poolRef = undefined; // try again next time
      throw err;
    });
    return this.poolRef;
  }

  /** The pool went away under us (undefined by an admin): look it up (or make it) again next time. */
  forgetPool(): void {
    this.poolRef = undefined;
  }

  info(): Promise<PoolInfo> {
    return this.pool().then((p) => this.remote.poolGetInfo(p));
  }

  /** Names of the pool's volumes (after a refresh when asked: files another daemon made appear). */
  async volumes(refresh = false): Promise<string[]> {
    const pool = await this.pool();
    if (refresh) await this.refresh(pool);
    return this.remote.poolListVolumes(pool);
  }

  /** The image's volumes on the host; NotFoundError (image-missing) when it has none. */
  async resolveImage(ref: string): Promise<ImageVolumes> {
    const { pool: poolName, name } = parseImageRef(ref);
    const pool = poolName === undefined ? await this.pool() : await this.otherPool(poolName);
    let found = await this.lookupImage(pool, name);
    if (!found.disk && !found.kernel) {
      // Copied into the pool's directory by hand? A refresh makes libvirt see it.
      await this.refresh(pool);
      found = await this.lookupImage(pool, name);
    }
    if (!found.disk && !found.kernel) {
      throw new NotFoundError(`image "${ref}" has no volumes in pool ${pool.name} (${name}.qcow2 or ${name}.vmlinuz): upload it first`, { reason: "image-missing" });
    }
    return found;
  }

  /** A VM's disk volume: reused when it exists (a retried create), else made. Returns its path. */
  async ensureDisk(uid: string, disk: { name: string; sizeGiB?: number }, image?: ImageVolumes["disk"]): Promise<string> {
    const pool = await this.pool();
    const name = diskVolumeName(uid, disk.name);
    let existing = await orMissing(this.remote.volLookupByName(pool, name), VirErr.NO_STORAGE_VOL);
    if (!existing && this.shared) {
      // on shared storage another host may have made it (a VM restarted here by HA after its
      // host failed): the pool's listing is refreshed from disk, and its disk is reused
      await this.remote.poolRefresh(pool).catch(() => undefined);
      existing = await orMissing(this.remote.volLookupByName(pool, name), VirErr.NO_STORAGE_VOL);
    }
    if (existing) return this.remote.volGetPath(existing);
    const wanted = disk.sizeGiB === undefined ? undefined : BigInt(disk.sizeGiB) * GiB;
    if (!image && wanted === undefined) throw new TerminalError(`disk ${disk.name}: a blank disk needs sizeGiB`, { reason: "invalid-spec" });
    const capacity = image && (wanted === undefined || image.capacity > wanted) ? image.capacity : wanted!;
    try {
      return await this.remote.volGetPath(await this.remote.volCreateXml(pool, diskVolumeXml(name, capacity, image?.path)));
    } catch (err) {
      // A parallel create of the same VM made it first: use that one.
      const raced = await orMissing(this.remote.volLookupByName(pool, name), VirErr.NO_STORAGE_VOL);
      if (raced) return this.remote.volGetPath(raced);
      if (err instanceof Error && /no space left|not enough space/i.test(err.message)) {
        throw new CapacityError(`pool ${pool.name} has no room for ${name}: ${err.message}`, { reason: "no-space", cause: err });
      }
      throw err;
    }
  }

  /**
   * The VM's cloud-init seed volume, filled with `image` by STORAGE_VOL_UPLOAD; reused when it
   * exists (a retried create: the seed is the same bytes for the same data). A failed upload
   * removes the half-written volume. Returns its path.
   */
  async ensureSeed(uid: string, image: Buffer): Promise<string> {
    const pool = await this.pool();
    const name = seedVolumeName(uid);
    const existing = await orMissing(this.remote.volLookupByName(pool, name), VirErr.NO_STORAGE_VOL);
    if (existing) return this.remote.volGetPath(existing);
    const xml = `<volume><name>${escapeXml(name)}</name><capacity unit="bytes">${image.length}</capacity><allocation unit="bytes">0</allocation><target><format type="raw"/></target></volume>`;
    const vol = await this.remote.volCreateXml(pool, xml);
    try {
      await this.remote.volUpload(vol, Readable.from([new Uint8Array(image)]) as AsyncIterable<Uint8Array>, { offset: 0n, length: BigInt(image.length) });
    } catch (err) {
      await this.remote.volDelete(vol).catch(() => undefined);
      throw err;
    }
    return this.remote.volGetPath(vol);
  }

  /**
   * The bytes of the VM's cloud-init seed volume; undefined when it has none. A miss refreshes the
   * pool once: the seed may have been made through another daemon sharing the directory.
   */
  async readSeed(uid: string): Promise<Buffer | undefined> {
    const pool = await this.pool();
    const lookup = (): Promise<StorageVolRef | undefined> => orMissing(this.remote.volLookupByName(pool, seedVolumeName(uid)), VirErr.NO_STORAGE_VOL);
    let vol = await lookup();
    if (!vol) {
      await this.refresh(pool);
      vol = await lookup();
    }
    return vol && this.remote.volDownload(vol, { offset: 0n, length: 0n });
  }

  /**
   * Grows a VM's disk to sizeGiB (never shrinks). `running`: the domain has the disk open, so
   * QEMU must grow it (blockResize, given here as a callback) instead of the pool.
   */
  async growDisk(uid: string, disk: { name: string; sizeGiB: number }, running?: (path: string, bytes: bigint) => Promise<void>): Promise<boolean> {
    const pool = await this.pool();
    const vol = await orMissing(this.remote.volLookupByName(pool, diskVolumeName(uid, disk.name)), VirErr.NO_STORAGE_VOL);
    if (!vol) return false; // not a disk we made (adopted VM) or not made yet
    const wanted = BigInt(disk.sizeGiB) * GiB;
    if ((await this.remote.volGetInfo(vol)).capacity >= wanted) return false;
    if (running) await running(await this.remote.volGetPath(vol), wanted);
    else await this.remote.volResize(vol, wanted);
    return true;
  }

  /**
   * The sizes of the VM's disks among `paths` (the domain's disk files): those named by its uid
   * in our pool, by spec disk name, in whole GiB (rounded up). Two calls per disk.
   */
  async diskSizes(uid: string, paths: string[]): Promise<{ name: string; sizeGiB: number }[]> {
    const prefix = `${uid}-`;
    const names = paths.map((p) => p.slice(p.lastIndexOf("/") + 1)).filter((n) => n.startsWith(prefix) && n.endsWith(".qcow2"));
    if (names.length === 0) return [];
    const pool = await this.pool();
    const sizes: { name: string; sizeGiB: number }[] = [];
    for (const volume of names) {
      const vol = await orMissing(this.remote.volLookupByName(pool, volume), VirErr.NO_STORAGE_VOL);
      if (!vol) continue;
      const { capacity } = await this.remote.volGetInfo(vol);
      sizes.push({ name: volume.slice(prefix.length, -".qcow2".length), sizeGiB: Number((capacity + GiB - 1n) / GiB) });
    }
    return sizes;
  }

  /**
   * Deletes the VM's volumes: only those named by its uid, only in our pool (an image volume
   * is never named so). `known` are disk paths from the domain: if one is missing from the
   * pool's list (made through another daemon sharing the directory), the pool is refreshed.
   */
  async removeVmVolumes(uid: string, known: string[] = []): Promise<string[]> {
    const prefix = `${uid}-`;
    let names = (await this.volumes()).filter((n) => n.startsWith(prefix));
    const unlisted = known.map((p) => p.slice(p.lastIndexOf("/") + 1)).filter((n) => n.startsWith(prefix) && !names.includes(n));
    if (unlisted.length > 0) names = (await this.volumes(true)).filter((n) => n.startsWith(prefix));
    const pool = await this.pool();
    for (const name of names) {
      const vol = await orMissing(this.remote.volLookupByName(pool, name), VirErr.NO_STORAGE_VOL);
      if (vol) await orMissing(this.remote.volDelete(vol), VirErr.NO_STORAGE_VOL);
    }
    return names;
  }

  /**
   * Puts an image on the host: one volume per part, filled by STORAGE_VOL_UPLOAD. A part whose
   * volume exists is left as it is (delete it to replace it); a failed upload removes its
   * half-written volume, so a later create never boots a truncated image.
   */
  async uploadImage(ref: string, parts: ImageUpload): Promise<string[]> {
    const { pool: poolName, name } = parseImageRef(ref);
    const pool = poolName === undefined ? await this.pool() : await this.otherPool(poolName);
    const made: string[] = [];
    for (const part of ["disk", "kernel", "initrd"] as const) {
      const source = parts[part];
      if (!source) continue;
      const volName = `${name}${imageSuffix[part]}`;
      if (await orMissing(this.remote.volLookupByName(pool, volName), VirErr.NO_STORAGE_VOL)) continue;
      // raw: libvirt stores the bytes as given; it recognises a qcow2 base by its header on refresh.
      const xml = `<volume><name>${escapeXml(volName)}</name><capacity unit="bytes">${source.bytes}</capacity><allocation unit="bytes">0</allocation><target><format type="raw"/></target></volume>`;
      const vol = await this.remote.volCreateXml(pool, xml);
      try {
        await this.remote.volUpload(vol, source.data(), { offset: 0n, length: BigInt(source.bytes) });
      } catch (err) {
        await this.remote.volDelete(vol).catch(() => undefined);
        throw err;
      }
      made.push(volName);
    }
    // The base disk's format and virtual size are read from its header by a refresh.
    if (made.length > 0) await this.refresh(pool);
    return made;
  }

  private async lookupImage(pool: StoragePoolRef, name: string): Promise<ImageVolumes> {
    const path = async (suffix: string): Promise<{ vol: StorageVolRef; path: string } | undefined> => {
      const vol = await orMissing(this.remote.volLookupByName(pool, `${name}${suffix}`), VirErr.NO_STORAGE_VOL);
      return vol && { vol, path: await this.remote.volGetPath(vol) };
    };
    const [disk, kernel, initrd] = await Promise.all([path(imageSuffix.disk), path(imageSuffix.kernel), path(imageSuffix.initrd)]);
    const found: ImageVolumes = {};
    if (disk) found.disk = { path: disk.path, capacity: (await this.remote.volGetInfo(disk.vol)).capacity };
    if (kernel) found.kernel = kernel.path;
    if (initrd) found.initrd = initrd.path;
    return found;
  }

  /** A refresh fails while the pool has a volume being built: then the list is as good as it gets. */
  private async refresh(pool: StoragePoolRef): Promise<void> {
    await this.remote.poolRefresh(pool).catch(() => undefined);
  }

  private async otherPool(name: string): Promise<StoragePoolRef> {
    const pool = await orMissing(this.remote.poolLookupByName(name), VirErr.NO_STORAGE_POOL);
    if (!pool) throw new NotFoundError(`storage pool ${name} does not exist on this host`, { reason: "no-storage-pool" });
    return pool;
  }

  private async ensurePool(): Promise<StoragePoolRef> {
    let pool = await orMissing(this.remote.poolLookupByName(this.poolName), VirErr.NO_STORAGE_POOL);
    if (!pool) {
      if (!this.createIfMissing) {
        throw new NotFoundError(`storage pool ${this.poolName} (named by the Host) does not exist on this host`, { reason: "no-storage-pool" });
      }
      try {
        pool = await this.remote.poolDefineXml(dirPoolXml(this.poolName, defaultPoolPath));
      } catch (err) {
        // Another session defined it meanwhile.
        pool = await orMissing(this.remote.poolLookupByName(this.poolName), VirErr.NO_STORAGE_POOL);
        if (!pool) throw err;
      }
      await this.remote.poolBuild(pool).catch(() => undefined); // mkdir; fine when it exists
      await this.remote.poolSetAutostart(pool, true);
    }
    if ((await this.remote.poolGetInfo(pool)).state !== PoolState.Running) {
      // Started meanwhile by another session: OPERATION_INVALID ("already active").
      await orMissing(this.remote.poolCreate(pool), VirErr.OPERATION_INVALID);
    }
    return pool;
  }
}
