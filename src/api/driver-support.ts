// What each driver does with a VM's device fields and cloud-init — one table, read three ways:
// the API server's CEL rules (a VM whose spec.placement.driver names a driver that cannot do a
// value is rejected, naming the field and the driver), placement (hosts of such a driver are left
// out, with the reason in Scheduled=False), and the driver conformance tests (the values each
// driver is checked with). drivers/README.md shows it as a table; ADR 0024 says why.
import type { CelRule } from "./crd-meta.ts";
import { drivers, type DriverName } from "./fields.ts";

export const diskBuses = ["virtio", "scsi", "sata", "ide"] as const;
export const nicModels = ["virtio", "e1000", "vmxnet3", "netfront", "synthetic"] as const;
export type DiskBus = (typeof diskBuses)[number];
export type NicModel = (typeof nicModels)[number];

export interface DriverSupport {
  /** Disk buses the driver honours (virtio: the default; each driver maps it to its paravirtual bus). */
  diskBuses: readonly DiskBus[];
  bootOrder: boolean;
  nicModels: readonly NicModel[];
  macAddress: boolean;
  cloudInit: boolean;
  /** Why a value is missing, in the user's words (shown in rejections). */
  why: { diskBus?: string; bootOrder?: string; nicModel?: string; macAddress?: string; cloudInit?: string };
}

export const driverSupport: Record<DriverName, DriverSupport> = {
  libvirt: {
    diskBuses: ["virtio", "scsi", "sata", "ide"],
    bootOrder: true,
    nicModels: ["virtio", "e1000", "vmxnet3"],
    macAddress: true,
    cloudInit: true,
    why: { nicModel: "netfront is XenServer's NIC and synthetic Hyper-V's; QEMU has neither" },
  },
  esxi: {
    // virtio → VMware's paravirtual SCSI (pvscsi), its nearest equivalent
    diskBuses: ["virtio", "scsi", "sata", "ide"],
    bootOrder: true,
    // virtio → vmxnet3, the paravirtual NIC
    nicModels: ["virtio", "e1000", "vmxnet3"],
    macAddress: true,
    cloudInit: true,
    why: { nicModel: "ESXi offers e1000 and vmxnet3 (virtio means vmxnet3)" },
  },
  xenserver: {
    // every XenServer disk is a Xen paravirtual block device (VBD): XAPI has no bus to choose
    diskBuses: ["virtio"],
    bootOrder: true,
    nicModels: ["virtio", "netfront"],
    macAddress: true,
    cloudInit: true,
    why: { diskBus: "XenServer attaches every disk as a Xen paravirtual VBD (virtio means that); XAPI has no bus to choose", nicModel: "XenServer's NICs are Xen netfront VIFs (virtio means that)" },
  },
  hyperv: {
    diskBuses: ["virtio", "scsi"],
    bootOrder: true,
    nicModels: ["virtio", "synthetic"],
    macAddress: true,
    cloudInit: true,
    why: {
      diskBus: "the driver makes generation 2 VMs, whose disks sit on SCSI controllers only (virtio means SCSI)",
      nicModel: "Hyper-V's NIC is the synthetic network adapter (virtio means that)",
    },
  },
  docker: {
    diskBuses: ["virtio"],
    bootOrder: false,
    nicModels: ["virtio"],
    macAddress: true,
    cloudInit: false,
    why: {
      diskBus: "a container has no disk bus (only the default, virtio, is accepted, and means nothing there)",
      bootOrder: "a container boots from its image, not from a disk",
      nicModel: "a container's NIC is a veth (only the default, virtio, is accepted)",
      cloudInit: "a container runs no cloud-init; give it settings through its image or environment",
    },
  },
};

/** The fields of a VM spec (or vApp member template) the table speaks about. */
export interface DeviceFields {
  disks?: readonly { name: string; bus?: string | undefined; bootOrder?: number | undefined }[] | undefined;
  networks?: readonly { name: string; model?: string | undefined; macAddress?: string | undefined }[] | undefined;
  cloudInit?: unknown;
}

/** What of `spec` the driver cannot do, each naming the field and the driver; empty: it can do all. */
export function unsupported(spec: DeviceFields, driver: DriverName): string[] {
  const s = driverSupport[driver];
  const out: string[] = [];
  for (const d of spec.disks ?? []) {
    if (d.bus !== undefined && !s.diskBuses.includes(d.bus as DiskBus)) out.push(`disks[${d.name}].bus ${d.bus}: ${driver} cannot (${s.why.diskBus ?? ""})`);
    if (d.bootOrder !== undefined && !s.bootOrder) out.push(`disks[${d.name}].bootOrder: ${driver} cannot (${s.why.bootOrder ?? ""})`);
  }
  for (const n of spec.networks ?? []) {
    if (n.model !== undefined && !s.nicModels.includes(n.model as NicModel)) out.push(`networks[${n.name}].model ${n.model}: ${driver} cannot (${s.why.nicModel ?? ""})`);
    if (n.macAddress !== undefined && !s.macAddress) out.push(`networks[${n.name}].macAddress: ${driver} cannot (${s.why.macAddress ?? ""})`);
  }
  if (spec.cloudInit !== undefined && !s.cloudInit) out.push(`cloudInit: ${driver} cannot (${s.why.cloudInit ?? ""})`);
  return out;
}

const quoted = (values: readonly string[]): string => `[${values.map((v) => `'${v}'`).join(", ")}]`;

/**
 * CEL rules on a spec with `placement.driver`: for each driver and each field it cannot fully do,
 * a rule that holds unless the spec names that driver and uses the value.
 */
export function driverSupportRules(): CelRule[] {
  const rules: CelRule[] = [];
  for (const driver of drivers) {
    const s = driverSupport[driver];
    const names = `!(has(self.placement) && has(self.placement.driver) && self.placement.driver == '${driver}')`;
    if (s.diskBuses.length < 4) {
      rules.push({
        rule: `${names} || !has(self.disks) || self.disks.all(d, !has(d.bus) || d.bus in ${quoted(s.diskBuses)})`,
        message: `disks[].bus: the ${driver} driver takes ${s.diskBuses.join(", ")} only: ${s.why.diskBus ?? ""}`,
        fieldPath: ".disks",
        reason: "FieldValueForbidden",
      });
    }
    if (!s.bootOrder) {
      rules.push({
        rule: `${names} || !has(self.disks) || self.disks.all(d, !has(d.bootOrder))`,
        message: `disks[].bootOrder: the ${driver} driver cannot set a boot order: ${s.why.bootOrder ?? ""}`,
        fieldPath: ".disks",
        reason: "FieldValueForbidden",
      });
    }
    if (s.nicModels.length < 5) {
      rules.push({
        rule: `${names} || !has(self.networks) || self.networks.all(n, !has(n.model) || n.model in ${quoted(s.nicModels)})`,
        message: `networks[].model: the ${driver} driver takes ${s.nicModels.join(", ")} only: ${s.why.nicModel ?? ""}`,
        fieldPath: ".networks",
        reason: "FieldValueForbidden",
      });
    }
    if (!s.macAddress) {
      rules.push({
        rule: `${names} || !has(self.networks) || self.networks.all(n, !has(n.macAddress))`,
        message: `networks[].macAddress: the ${driver} driver cannot set a MAC address: ${s.why.macAddress ?? ""}`,
        fieldPath: ".networks",
        reason: "FieldValueForbidden",
      });
    }
    if (!s.cloudInit) {
      rules.push({
        rule: `${names} || !has(self.cloudInit)`,
        message: `cloudInit: the ${driver} driver cannot pass cloud-init data: ${s.why.cloudInit ?? ""}`,
        fieldPath: ".cloudInit",
        reason: "FieldValueForbidden",
      });
    }
  }
  return rules;
}
