import { describe, expect, it } from "vitest";
import type { VdcQuotaObject, VmObject } from "./kinds.ts";
import { perDriverRefusal, type QuotaRoomSources } from "./quota-room.ts";

const vm = (name: string, extra: { driver?: "docker" | "libvirt"; host?: string; placedDriver?: "docker" } = {}): VmObject => ({
  metadata: { name, namespace: "a", uid: `uid-${name}` },
  spec: { cpus: 1, memory: "64Mi", ...(extra.driver ? { placement: { driver: extra.driver } } : {}) } as VmObject["spec"],
  ...(extra.host ? { status: { host: extra.host, ...(extra.placedDriver ? { driver: extra.placedDriver } : {}) } } : {}),
});
const quota: VdcQuotaObject = {
  metadata: { name: "q", namespace: "a" },
  spec: { hard: { virtualMachines: 10 }, perDriver: [{ driver: "docker", hard: { virtualMachines: 2 } }] },
  status: { charges: [{ uid: "uid-coming", kind: "VirtualMachine", name: "coming", at: "2026-12-06T12:00:00.000Z", used: { virtualMachines: 1 }, usedPerDriver: [{ driver: "docker", used: { virtualMachines: 1 } }] }] },
};
const sources = (vms: VmObject[], reserved: Record<string, string> = {}): QuotaRoomSources => ({
  quotas: { list: () => [quota] } as never,
  vms: { list: () => vms } as never,
  hostDriver: (h) => (h.startsWith("docker") ? "docker" : "libvirt"),
  reservedHost: (k) => reserved[k],
});

describe("per-driver room at placement", () => {
  const self = vm("new");
  const cases: Record<string, { vms: VmObject[]; reserved?: Record<string, string>; driver: "docker" | "libvirt"; want: string | undefined }> = {
    "room left on docker (one charge on its way counts)": { vms: [self], driver: "docker", want: undefined },
    "a VM placed on docker and a charge on its way fill it": { vms: [self, vm("old", { host: "docker-1", placedDriver: "docker" })], driver: "docker", want: "namespace a would use 3 VMs of 2 on docker (VDCQuota q)" },
    "a VM naming docker counts before it is placed": { vms: [self, vm("named", { driver: "docker" })], driver: "docker", want: "namespace a would use 3 VMs of 2 on docker (VDCQuota q)" },
    "this process's reservation counts before the cache shows it": { vms: [self, vm("reserved")], reserved: { "a/reserved": "docker-2" }, driver: "docker", want: "namespace a would use 3 VMs of 2 on docker (VDCQuota q)" },
    "a driver without a per-driver limit": { vms: [self, vm("old", { host: "docker-1", placedDriver: "docker" })], driver: "libvirt", want: undefined },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => expect(perDriverRefusal(sources(c.vms, c.reserved), self, c.driver)).toBe(c.want));
  }
});
