import { describe, expect, it } from "vitest";
import { breaksReserve } from "./ha-reserve.ts";
import type { HostCandidate } from "./types.ts";

const host = (name: string, allocated: { cpus: number; memoryMiB: number }, more: Partial<Pick<HostCandidate, "maintenance" | "ready">> = {}): HostCandidate => ({
  name,
  datacenter: "dc",
  pool: "p",
  driver: "libvirt",
  labels: {},
  ready: true,
  maintenance: false,
  allocatable: { cpus: 16, memoryMiB: 16_384, storageGiB: 1000 },
  allocated: { ...allocated, storageGiB: 0 },
  vms: [],
  ...more,
});
const vm = (cpus: number, memoryMiB: number) => ({ cpus, memoryMiB, storageGiB: 0 });
const reserve = { failures: 1, policy: "ha" };

describe("HA admission control: room to restart the largest hosts' VMs", () => {
  const cases: { reason: string; pool: HostCandidate[]; chosen: string; need: ReturnType<typeof vm>; failures?: number; breaks: boolean }[] = [
    { reason: "two empty hosts: a small VM fits and leaves room", pool: [host("a", vm(0, 0)), host("b", vm(0, 0))], chosen: "a", need: vm(2, 2048), breaks: false },
    { reason: "the survivor could not hold the largest host's VMs", pool: [host("a", vm(0, 0)), host("b", vm(6, 1024))], chosen: "a", need: vm(12, 2048), breaks: true },
    { reason: "memory alone can break it", pool: [host("a", vm(1, 10_000)), host("b", vm(1, 8_000))], chosen: "b", need: vm(1, 2_000), breaks: true },
    { reason: "a single host can never restart its own VMs", pool: [host("a", vm(0, 0))], chosen: "a", need: vm(1, 64), breaks: true },
    { reason: "a host in maintenance is no survivor", pool: [host("a", vm(0, 0)), host("b", vm(0, 0), { maintenance: true })], chosen: "a", need: vm(1, 64), breaks: true },
    { reason: "reservedHostFailures 0 reserves nothing", pool: [host("a", vm(0, 0))], chosen: "a", need: vm(1, 64), failures: 0, breaks: false },
    { reason: "two failures need two hosts' worth on the third", pool: [host("a", vm(8, 8192)), host("b", vm(8, 8192)), host("c", vm(8, 8192))], chosen: "c", need: vm(1, 512), failures: 2, breaks: true },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const why = breaksReserve(c.pool, c.chosen, c.need, { ...reserve, failures: c.failures ?? 1 });
      expect(why !== undefined).toBe(c.breaks);
      if (why) expect(why).toMatch(/reservedHostFailures/);
    });
  }
});
