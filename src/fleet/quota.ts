// What a VirtualMachine or a VApp counts against a VDCQuota, the same arithmetic for the admission
// webhook, the quota's recount and placement: VMs, vCPUs, memory and storage (bytes), in total and
// per driver where the driver is known. A VM owned by a VApp that matches one of its members is
// charged through the VApp (the VApp was charged for all its members when it was admitted), never
// a second time; a VM bigger than its member counts on its own.
import type { DriverName, VAppSpec, VDCQuotaSpec } from "../api/index.ts";
import { quantityBytes } from "../api/quantity.ts";
import type { ObjectMeta } from "../runtime/resource.ts";
import type { VmObject } from "./kinds.ts";

/** What counts, in whole units: VMs, vCPUs, bytes of memory and of storage. */
export interface Usage {
  virtualMachines: number;
  cpus: number;
  memory: number;
  storage: number;
}

export type Limits = VDCQuotaSpec["hard"];
export type PerDriver = Map<DriverName, Usage>;

/** A charge: what one object uses, in total and on the drivers it is known to run on. */
export interface Charge {
  total: Usage;
  perDriver: PerDriver;
}

export const resources = ["virtualMachines", "cpus", "memory", "storage"] as const;
export type Resource = (typeof resources)[number];

export const zero = (): Usage => ({ virtualMachines: 0, cpus: 0, memory: 0, storage: 0 });
export const noCharge = (): Charge => ({ total: zero(), perDriver: new Map() });

export function plus(a: Usage, b: Usage): Usage {
  return { virtualMachines: a.virtualMachines + b.virtualMachines, cpus: a.cpus + b.cpus, memory: a.memory + b.memory, storage: a.storage + b.storage };
}

/** a − b, resource by resource, never below zero (a shrink releases nothing at admission). */
export function growth(a: Usage, b: Usage): Usage {
  const d = (r: Resource): number => Math.max(0, a[r] - b[r]);
  return { virtualMachines: d("virtualMachines"), cpus: d("cpus"), memory: d("memory"), storage: d("storage") };
}

export const isZero = (u: Usage): boolean => resources.every((r) => u[r] === 0);
export const within = (a: Usage, b: Usage): boolean => resources.every((r) => a[r] <= b[r]);

export function addPerDriver(into: PerDriver, driver: DriverName, u: Usage): void {
  into.set(driver, plus(into.get(driver) ?? zero(), u));
}

export function chargeGrowth(next: Charge, before: Charge): Charge {
  const perDriver: PerDriver = new Map();
  for (const [d, u] of next.perDriver) {
    const g = growth(u, before.perDriver.get(d) ?? zero());
    if (!isZero(g)) perDriver.set(d, g);
  }
  return { total: growth(next.total, before.total), perDriver };
}

export const chargeIsZero = (c: Charge): boolean => isZero(c.total) && [...c.perDriver.values()].every(isZero);

interface MachineSpec {
  cpus?: number | undefined;
  memory?: string | number | undefined;
  disks?: { size?: string | number | undefined }[] | undefined;
  placement?: { driver?: DriverName | undefined } | undefined;
}

const bytes = (q: string | number | undefined): number => {
  const b = quantityBytes(q);
  return b === undefined || Number.isNaN(b) ? 0 : Math.ceil(b);
};

/** One VM of this spec (an adopted VM without a size counts its spec only). */
export function machineUsage(spec: MachineSpec): Usage {
  const storage = (spec.disks ?? []).reduce((sum, d) => sum + bytes(d.size), 0);
  return { virtualMachines: 1, cpus: spec.cpus ?? 0, memory: bytes(spec.memory), storage };
}

/** A VM's charge: its driver is the one its spec asks for, else the one it was placed on. */
export function vmCharge(vm: Pick<VmObject, "spec" | "status">): Charge {
  const total = machineUsage(vm.spec);
  const driver = vm.spec.placement?.driver ?? vm.status?.driver;
  const perDriver: PerDriver = new Map();
  if (driver) perDriver.set(driver, total);
  return { total, perDriver };
}

/** A VApp's charge: all its members; per driver those whose spec names a driver (`placedOn`: where its VM went). */
export function vappCharge(spec: Pick<VAppSpec, "members">, placedOn: (member: string) => DriverName | undefined = () => undefined): Charge {
  const charge = noCharge();
  for (const m of spec.members) {
    const u = machineUsage(m.spec);
    charge.total = plus(charge.total, u);
    const driver = m.spec.placement?.driver ?? placedOn(m.name);
    if (driver) addPerDriver(charge.perDriver, driver, u);
  }
  return charge;
}

export interface VAppLike {
  metadata: ObjectMeta;
  spec: Pick<VAppSpec, "members">;
}

/** The VApp that owns this VM (controller owner reference), by name. */
export function owningVApp(vm: { metadata: ObjectMeta }): { name: string; uid: string } | undefined {
  const ref = vm.metadata.ownerReferences?.find((o) => o.kind === "VApp" && o.apiVersion.startsWith("omnivisor.io/"));
  return ref ? { name: ref.name, uid: ref.uid } : undefined;
}

/** The member this VM stands for, when it is charged through its VApp: named <vapp>-<member>, owned by that VApp, no bigger than the member. */
export function chargedThrough(vm: Pick<VmObject, "metadata" | "spec">, vapp: VAppLike | undefined): string | undefined {
  const owner = owningVApp(vm);
  if (!vapp || !owner || owner.uid !== vapp.metadata.uid || owner.name !== vapp.metadata.name) return undefined;
  const prefix = `${vapp.metadata.name}-`;
  if (!vm.metadata.name.startsWith(prefix)) return undefined;
  const member = vapp.spec.members.find((m) => m.name === vm.metadata.name.slice(prefix.length));
  if (!member || !within(machineUsage(vm.spec), machineUsage(member.spec))) return undefined;
  return member.name;
}

/** A quota's limits as numbers; an absent limit is unlimited. */
export function limitOf(limits: Limits | undefined, r: Resource): number {
  const v = limits?.[r];
  if (v === undefined) return Number.POSITIVE_INFINITY;
  return r === "memory" || r === "storage" ? bytes(v) : Number(v);
}

export function fromLimits(limits: Partial<Limits> | undefined): Usage {
  const n = (r: Resource): number => {
    const v = limits?.[r];
    return v === undefined ? 0 : r === "memory" || r === "storage" ? bytes(v) : Number(v);
  };
  return { virtualMachines: n("virtualMachines"), cpus: n("cpus"), memory: n("memory"), storage: n("storage") };
}

/** "12Gi", "1536Mi", or plain bytes when not a whole MiB. */
export function formatBytes(b: number): string {
  for (const [suffix, size] of [["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]] as const) {
    if (b !== 0 && b % size === 0) return `${b / size}${suffix}`;
  }
  return String(b);
}

/** Usage as status writes it (memory and storage as quantities). */
export function toLimits(u: Usage): Required<Limits> {
  return { virtualMachines: u.virtualMachines, cpus: u.cpus, memory: formatBytes(u.memory), storage: formatBytes(u.storage) };
}

const units: Record<Resource, (n: number) => string> = {
  virtualMachines: (n) => (n === 1 ? "1 VM" : `${n} VMs`),
  cpus: (n) => (n === 1 ? "1 vCPU" : `${n} vCPUs`),
  memory: (n) => `${formatBytes(n)} of memory`,
  storage: (n) => `${formatBytes(n)} of storage`,
};

/** The first limit `used` goes over, said as users read it: "would use 12 vCPUs of 10". */
export function overLimit(used: Usage, hard: Limits | undefined): string | undefined {
  for (const r of resources) {
    const limit = limitOf(hard, r);
    if (used[r] > limit) return `would use ${units[r](used[r])} of ${r === "memory" || r === "storage" ? formatBytes(limit) : limit}`;
  }
  return undefined;
}
