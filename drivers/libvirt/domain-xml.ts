// Domain XML from a VM spec, and the few facts the driver reads back out of a domain's XML.
// Only the elements we generate are parsed, so a small reader suffices (no XML dependency).
import { libvirtMetadataNamespace } from "../contract/index.ts";
import type { DiskBus, NicModel, VmIdentity } from "../contract/index.ts";

/** Everything resolved on the host side that the XML needs (paths, virt type, networks). */
export interface DomainPlan {
  identity: VmIdentity;
  /** libvirt domain type: "kvm" or "qemu" (TCG). */
  virtType: "kvm" | "qemu";
  cpus: number;
  memoryMiB: number;
  /** Direct kernel boot, when the first disk's image carries a kernel. */
  kernel?: { path: string; initrd?: string; cmdline: string };
  disks: PlannedDisk[];
  nics: PlannedNic[];
  /** File the serial console is logged to; absent: no serial console. */
  consoleLog?: string;
  /** Domain UUID: the Kubernetes UID when it is one, so lookups by uid are one call. */
  uuid?: string;
}

export interface PlannedDisk {
  path: string;
  format: "qcow2" | "raw";
  /** Absent: virtio. */
  bus?: DiskBus;
  bootOrder?: number;
  /** A read-only CD-ROM (the cloud-init seed) instead of a disk. */
  cdrom?: boolean;
}

export type PlannedNic = ({ kind: "network"; network: string } | { kind: "bridge"; bridge: string }) & { model?: NicModel; mac?: string; bootOrder?: number };

export const metadataKey = "omnivisor";

/** The device name prefix the guest sees per bus (vda, sda, hda); sata and scsi share sd. */
const busPrefix: Record<DiskBus, string> = { virtio: "vd", scsi: "sd", sata: "sd", ide: "hd" };

/** The <disk> elements: target names counted per prefix, a boot order where the spec gives one. */
function diskElements(disks: PlannedDisk[]): string[] {
  const used = new Map<string, number>();
  return disks.map((d) => {
    const bus = d.bus ?? "virtio";
    const prefix = busPrefix[bus];
    const n = used.get(prefix) ?? 0;
    used.set(prefix, n + 1);
    const boot = d.bootOrder === undefined ? "" : `<boot order="${d.bootOrder}"/>`;
    const device = d.cdrom ? "cdrom" : "disk";
    const readonly = d.cdrom ? "<readonly/>" : "";
    return `<disk type="file" device="${device}"><driver name="qemu" type="${d.format}"/><source file="${escapeXml(d.path)}"/><target dev="${prefix}${String.fromCharCode(97 + n)}" bus="${bus}"/>${readonly}${boot}</disk>`;
  });
}

function nicElement(n: PlannedNic): string {
  const source = n.kind === "network" ? `<source network="${escapeXml(n.network)}"/>` : `<source bridge="${escapeXml(n.bridge)}"/>`;
  const mac = n.mac === undefined ? "" : `<mac address="${escapeXml(n.mac)}"/>`;
  const boot = n.bootOrder === undefined ? "" : `<boot order="${n.bootOrder}"/>`;
  return `<interface type="${n.kind}">${mac}${source}<model type="${n.model ?? "virtio"}"/>${boot}</interface>`;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e]!);
}

/** The body of our <metadata> element (also what DOMAIN_SET_METADATA stores). */
export function identityMetadataXml(identity: VmIdentity): string {
  const ns = identity.namespace === undefined ? "" : `<${metadataKey}:namespace>${escapeXml(identity.namespace)}</${metadataKey}:namespace>`;
  const name = identity.kubeName === undefined ? "" : `<${metadataKey}:name>${escapeXml(identity.kubeName)}</${metadataKey}:name>`;
  return `<${metadataKey}:vm xmlns:${metadataKey}="${libvirtMetadataNamespace}"><${metadataKey}:uid>${escapeXml(identity.uid)}</${metadataKey}:uid>${ns}${name}</${metadataKey}:vm>`;
}

export function domainXml(plan: DomainPlan): string {
  const os = plan.kernel
    ? [
        `<kernel>${escapeXml(plan.kernel.path)}</kernel>`,
        plan.kernel.initrd ? `<initrd>${escapeXml(plan.kernel.initrd)}</initrd>` : "",
        `<cmdline>${escapeXml(plan.kernel.cmdline)}</cmdline>`,
      ].join("")
    : plan.disks.some((d) => d.bootOrder !== undefined)
      ? "" // per-device boot order: libvirt refuses it beside <boot dev>
      : `<boot dev="hd"/>`;
  const disks = diskElements(plan.disks);
  const nics = plan.nics.map(nicElement);
  // A pty serial port whose output virtlogd also writes to a file: interactive and readable.
  const serial = plan.consoleLog
    ? `<serial type="pty"><log file="${escapeXml(plan.consoleLog)}" append="off"/><target port="0"/></serial><console type="pty"><target type="serial" port="0"/></console>`
    : "";
  return [
    `<domain type="${plan.virtType}">`,
    `<name>${escapeXml(plan.identity.name)}</name>`,
    plan.uuid ? `<uuid>${plan.uuid}</uuid>` : "",
    `<metadata>${identityMetadataXml(plan.identity)}</metadata>`,
    `<memory unit="MiB">${plan.memoryMiB}</memory>`,
    `<vcpu>${plan.cpus}</vcpu>`,
    `<os><type arch="x86_64">hvm</type>${os}</os>`,
    `<features><acpi/></features>`,
    `<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>`,
    `<devices>${disks.join("")}${nics.join("")}${serial}<memballoon model="none"/></devices>`,
    `</domain>`,
  ].join("");
}

/** What listVms and observeVm need from a domain's XML. */
export interface DomainFacts {
  name: string;
  uuid: string;
  cpus: number;
  memoryMiB: number;
  /** Our identity metadata: uid plus namespace/name when stored. */
  meta?: { uid: string; namespace?: string; name?: string };
  diskFiles: string[];
  /** Files of a direct kernel boot (kernel, initrd): not disks, yet a destination needs them too. */
  bootFiles: string[];
  macs: string[];
  /** Disks as the domain has them: target bus, device (disk / cdrom), boot order, source file. */
  disks: { bus: string; device: string; bootOrder?: number; file?: string }[];
  /** Interfaces: model and MAC. */
  nics: { model?: string; mac?: string }[];
  consoleLog?: string;
}

const unitToMiB: Record<string, number> = { b: 1 / 2 ** 20, bytes: 1 / 2 ** 20, k: 1 / 1024, kib: 1 / 1024, kb: 1000 / 2 ** 20, m: 1, mib: 1, mb: 1e6 / 2 ** 20, g: 1024, gib: 1024, gb: 1e9 / 2 ** 20 };

export function parseDomainXml(xml: string): DomainFacts {
  const text = (tag: string): string | undefined => new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml)?.[1];
  const mem = /<(currentMemory|memory)(?:\s+unit=['"](\w+)['"])?[^>]*>(\d+)</.exec(xml);
  const memoryMiB = mem ? Math.round(Number(mem[3]) * (unitToMiB[(mem[2] ?? "KiB").toLowerCase()] ?? 1 / 1024)) : 0;
  const facts: DomainFacts = {
    name: unescapeXml(text("name") ?? ""),
    uuid: text("uuid") ?? "",
    cpus: Number(text("vcpu") ?? 0),
    memoryMiB,
    diskFiles: [...xml.matchAll(/<disk\b[\s\S]*?<source file=['"]([^'"]+)['"]/g)].map((m) => unescapeXml(m[1]!)),
    bootFiles: [...xml.matchAll(/<(?:kernel|initrd)>([^<]+)<\/(?:kernel|initrd)>/g)].map((m) => unescapeXml(m[1]!)),
    macs: [...xml.matchAll(/<mac address=['"]([^'"]+)['"]/g)].map((m) => m[1]!),
    disks: [...xml.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)].map((m) => {
      const body = m[2]!;
      const order = /<boot order=['"](\d+)['"]/.exec(body)?.[1];
      const file = /<source file=['"]([^'"]+)['"]/.exec(body)?.[1];
      return {
        device: /device=['"](\w+)['"]/.exec(m[1]!)?.[1] ?? "disk",
        bus: /<target\b[^>]*bus=['"](\w+)['"]/.exec(body)?.[1] ?? "",
        ...(order !== undefined ? { bootOrder: Number(order) } : {}),
        ...(file !== undefined ? { file: unescapeXml(file) } : {}),
      };
    }),
    nics: [...xml.matchAll(/<interface\b[^>]*>([\s\S]*?)<\/interface>/g)].map((m) => {
      const model = /<model type=['"]([\w-]+)['"]/.exec(m[1]!)?.[1];
      const mac = /<mac address=['"]([^'"]+)['"]/.exec(m[1]!)?.[1];
      return { ...(model !== undefined ? { model } : {}), ...(mac !== undefined ? { mac } : {}) };
    }),
  };
  const log = /<serial\b[\s\S]*?<log file=['"]([^'"]+)['"]/.exec(xml)?.[1];
  if (log !== undefined) facts.consoleLog = unescapeXml(log);
  const meta = parseIdentityMetadata(xml);
  if (meta) facts.meta = meta;
  return facts;
}

/** Finds our namespaced element (in a whole domain XML or as GET_METADATA returns it) and reads it. */
export function parseIdentityMetadata(xml: string): DomainFacts["meta"] {
  const at = xml.indexOf(`"${libvirtMetadataNamespace}"`);
  if (at < 0) return undefined;
  const start = xml.lastIndexOf("<", at);
  const tag = /^<([\w:.-]+)/.exec(xml.slice(start))?.[1];
  if (!tag) return undefined;
  const end = xml.indexOf(`</${tag}>`, at);
  const body = xml.slice(start, end < 0 ? undefined : end);
  const child = (name: string): string | undefined => {
    const v = new RegExp(`<(?:[\\w.-]+:)?${name}>([^<]*)</`).exec(body)?.[1];
    return v === undefined ? undefined : unescapeXml(v);
  };
  const uid = child("uid");
  if (!uid) return undefined;
  const meta: { uid: string; namespace?: string; name?: string } = { uid };
  const namespace = child("namespace");
  const name = child("name");
  if (namespace !== undefined) meta.namespace = namespace;
  if (name !== undefined) meta.name = name;
  return meta;
}
