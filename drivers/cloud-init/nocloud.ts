// cloud-init's NoCloud seed as an ISO9660 image labelled `cidata` holding user-data, meta-data
// (and network-config), as `genisoimage -V cidata` makes it — written here in TypeScript because
// the driver runs in the manager, away from the host, and uploads the bytes through the
// hypervisor's own API (libvirt volume upload, a Hyper-V host's file). Plain ISO9660 (no Rock
// Ridge, no Joliet): Linux shows the names in lower case (user-data), which is what cloud-init
// reads. The image is the same for the same data (fixed dates), so a retried create uploads
// nothing new.
import type { CloudInitData } from "../contract/index.ts";

const sector = 2048;
/** The label cloud-init's NoCloud datasource looks for. */
export const seedLabel = "cidata";

/** The seed's files: meta-data names the instance (the VM's uid) so cloud-init runs once per VM. */
export function seedFiles(data: CloudInitData, instanceId: string, hostname: string): Map<string, string> {
  const files = new Map<string, string>([
    ["meta-data", `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`],
    ["user-data", data.userData],
  ]);
  if (data.networkConfig !== undefined) files.set("network-config", data.networkConfig);
  return files;
}

function both32(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32LE(n, at);
  buf.writeUInt32BE(n, at + 4);
}

function both16(buf: Buffer, at: number, n: number): void {
  buf.writeUInt16LE(n, at);
  buf.writeUInt16BE(n, at + 2);
}

/** 2026-01-01 00:00:00 UTC as a directory record's 7-byte date. */
const recordDate = [126, 1, 1, 0, 0, 0, 0];
const volumeDate = "2026010100000000";

function dirRecord(name: Buffer, extent: number, size: number, directory: boolean): Buffer {
  const length = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(length);
  r[0] = length;
  both32(r, 2, extent);
  both32(r, 10, size);
  recordDate.forEach((v, i) => (r[18 + i] = v));
  r[25] = directory ? 2 : 0;
  both16(r, 28, 1);
  r[32] = name.length;
  name.copy(r, 33);
  return r;
}

function padded(text: string, length: number): string {
  return text.padEnd(length, " ").slice(0, length);
}

/** An ISO9660 image labelled `label` with these files in its root directory. */
export function isoImage(label: string, files: Map<string, string>): Buffer {
  const entries = [...files].map(([name, text]) => ({ id: Buffer.from(`${name.toUpperCase()};1`, "ascii"), data: Buffer.from(text, "utf8") })).sort((a, b) => Buffer.compare(a.id, b.id));
  // sectors: 16 PVD, 17 terminator, 18 L path table, 19 M path table, 20 root directory, then files
  const root = 20;
  let next = 21;
  const placed = entries.map((e) => {
    const extent = next;
    next += Math.max(1, Math.ceil(e.data.length / sector));
    return { ...e, extent };
  });
  const image = Buffer.alloc(next * sector);

  const rootDir = Buffer.concat([dirRecord(Buffer.from([0]), root, sector, true), dirRecord(Buffer.from([1]), root, sector, true), ...placed.map((e) => dirRecord(e.id, e.extent, e.data.length, false))]);
  if (rootDir.length > sector) throw new Error("cloud-init seed: too many files for one directory sector");
  rootDir.copy(image, root * sector);
  for (const e of placed) e.data.copy(image, e.extent * sector);

  // path tables: the root only (name length 1, extent, parent 1, name 0, pad)
  const pathTable = (at: number, bigEndian: boolean): void => {
    const o = at * sector;
    image[o] = 1;
    if (bigEndian) {
      image.writeUInt32BE(root, o + 2);
      image.writeUInt16BE(1, o + 6);
    } else {
      image.writeUInt32LE(root, o + 2);
      image.writeUInt16LE(1, o + 6);
    }
  };
  pathTable(18, false);
  pathTable(19, true);

  const pvd = Buffer.alloc(sector);
  pvd[0] = 1;
  pvd.write("CD001", 1, "ascii");
  pvd[6] = 1;
  pvd.write(padded("LINUX", 32), 8, "ascii");
  pvd.write(padded(label, 32), 40, "ascii");
  both32(pvd, 80, next);
  both16(pvd, 120, 1);
  both16(pvd, 124, 1);
  both16(pvd, 128, sector);
  both32(pvd, 132, 10);
  pvd.writeUInt32LE(18, 140);
  pvd.writeUInt32BE(19, 148);
  dirRecord(Buffer.from([0]), root, sector, true).copy(pvd, 156);
  pvd.write(" ".repeat(128 * 4 + 37 * 3), 190, "ascii"); // volume set, publisher, preparer, application; file ids
  pvd.write(padded("OMNIVISOR", 128), 574, "ascii");
  for (const at of [813, 830, 864]) pvd.write(volumeDate, at, "ascii");
  pvd.write("0000000000000000", 847, "ascii");
  pvd[881] = 1;
  pvd.copy(image, 16 * sector);

  const terminator = 17 * sector;
  image[terminator] = 255;
  image.write("CD001", terminator + 1, "ascii");
  image[terminator + 6] = 1;
  return image;
}

/** The NoCloud seed image for a VM. */
export function noCloudSeed(data: CloudInitData, instanceId: string, hostname: string): Buffer {
  return isoImage(seedLabel, seedFiles(data, instanceId, hostname));
}

/** Reads back an image isoImage made (label and root files, names as Linux shows them): for tests and fakes. */
export function readIsoImage(image: Buffer): { label: string; files: Map<string, string> } {
  const pvd = 16 * sector;
  if (image.toString("ascii", pvd + 1, pvd + 6) !== "CD001") throw new Error("not an ISO9660 image");
  const label = image.toString("ascii", pvd + 40, pvd + 72).trimEnd();
  const rootExtent = image.readUInt32LE(pvd + 156 + 2);
  const rootSize = image.readUInt32LE(pvd + 156 + 10);
  const files = new Map<string, string>();
  let o = rootExtent * sector;
  const end = o + rootSize;
  while (o < end && image[o]! > 0) {
    const length = image[o]!;
    const nameLength = image[o + 32]!;
    const id = image.toString("ascii", o + 33, o + 33 + nameLength);
    if ((image[o + 25]! & 2) === 0) {
      const extent = image.readUInt32LE(o + 2);
      const size = image.readUInt32LE(o + 10);
      files.set(id.replace(/;1$/, "").toLowerCase(), image.toString("utf8", extent * sector, extent * sector + size));
    }
    o += length;
  }
  return { label, files };
}
