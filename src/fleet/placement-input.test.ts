import { describe, expect, it } from "vitest";
import { place } from "../placement/place.ts";
import type { DatacenterObject, HostObject, HostPoolObject, VmObject } from "./kinds.ts";
import { Reservations, VmsByHost } from "./vms-by-host.ts";
import { candidates, placementRequest, type Fleet } from "./placement-input.ts";

const ready = [
  { type: "Ready", status: "True" },
  { type: "Reachable", status: "True" },
];
const host = (name: string, cpus: number, memory: string, extra: { labels?: Record<string, string>; maintenance?: boolean; ready?: boolean } = {}): HostObject =>
  ({
    metadata: { name, labels: extra.labels ?? {} },
    spec: { datacenter: "dc", driver: "libvirt", endpoint: "x", maintenance: extra.maintenance ?? false },
    status: { allocatable: { cpus, memory }, conditions: extra.ready === false ? [] : ready },
  }) as unknown as HostObject;
const vm = (name: string, cpus: number, memory: string, hostName?: string, placement?: VmObject["spec"]["placement"]): VmObject =>
  ({ metadata: { name, namespace: "t", labels: {} }, spec: { cpus, memory, powerState: "Running", placement }, status: hostName ? { host: hostName } : {} }) as unknown as VmObject;

const fleet = ({ vms = [], reserved = {}, ...over }: Partial<Omit<Fleet, "placed" | "vm" | "reservations">> & { vms?: VmObject[]; reserved?: Record<string, string> }): Fleet => {
  const placed = new VmsByHost();
  for (const v of vms) placed.put(v);
  const byKey = new Map(vms.map((v) => [`${v.metadata.namespace}/${v.metadata.name}`, v]));
  const reservations = new Reservations();
  for (const [key, host] of Object.entries(reserved)) reservations.set(key, host, byKey.get(key)!);
  return { hosts: [], pools: [], datacenters: [], reservations, placed, vm: (key) => byKey.get(key), ...over };
};

describe("placement inputs from the caches", () => {
  it("counts placed VMs and this process's reservations as allocated, never the VM itself", () => {
    const me = vm("me", 1, "1Gi", "a");
    const f = fleet({ hosts: [host("a", 4, "8Gi"), host("b", 4, "8Gi")], vms: [me, vm("x", 2, "2Gi", "a"), vm("y", 1, "1Gi")], reserved: { "t/y": "b" } });
    const byName = Object.fromEntries(candidates(f, me).map((c) => [c.name, c]));
    expect(byName["a"]!.allocated).toMatchObject({ cpus: 2, memoryMiB: 2048 });
    expect(byName["b"]!.allocated).toMatchObject({ cpus: 1, memoryMiB: 1024 });
    expect(byName["a"]!.ready).toBe(true);
  });

  it("given Performance, then the emptier host wins; given a host in maintenance or not ready, then it is skipped with the reason", () => {
    const me = vm("me", 1, "1Gi");
    const f = fleet({ hosts: [host("busy", 4, "8Gi"), host("idle", 4, "8Gi"), host("down", 64, "1Ti", { ready: false }), host("maint", 64, "1Ti", { maintenance: true })], vms: [vm("x", 3, "6Gi", "busy")] });
    const decision = place(placementRequest(me, f), candidates(f, me));
    expect(decision.host).toBe("idle");
    expect(decision.rejected.map((r) => r.host).sort()).toEqual(["down", "maint"]);
  });

  it("resolves the policy VM > pool > datacenter and scope Hosts from the pool", () => {
    const pool = { metadata: { name: "p" }, spec: { datacenter: "dc", hosts: ["a"], placement: { policy: "Progressive", scope: "Hosts", hosts: ["a"] } } } as unknown as HostPoolObject;
    const dc = { metadata: { name: "dc" }, spec: { placement: { policy: "Performance", scope: "Pool" } } } as unknown as DatacenterObject;
    const request = placementRequest(vm("me", 1, "1Gi", undefined, { pool: "p" }), { pools: [pool], datacenters: [dc] });
    expect(request).toMatchObject({ policy: "Progressive", pool: "p", datacenter: "dc", hosts: ["a"] });
    expect(placementRequest(vm("me", 1, "1Gi", undefined, { pool: "p", policy: "Performance" }), { pools: [pool], datacenters: [dc] }).policy).toBe("Performance");
  });

  it("given a catalog image, then only hosts whose driver has a source for it fit, and the message says why the others do not", () => {
    const dc = { metadata: { name: "dc" }, spec: { images: [{ name: "tiny", sources: { docker: "busybox:local" } }] } } as unknown as DatacenterObject;
    const docker = { ...host("d", 4, "8Gi"), spec: { ...host("d", 4, "8Gi").spec, driver: "docker" } } as HostObject;
    const me = { ...vm("me", 1, "1Gi"), spec: { ...vm("me", 1, "1Gi").spec, disks: [{ name: "root", image: "tiny" }] } } as VmObject;
    const f = fleet({ hosts: [host("kvm", 64, "1Ti"), docker], datacenters: [dc] });
    const decision = place(placementRequest(me, f), candidates(f, me));
    expect(decision.host).toBe("d");
    expect(decision.rejected).toEqual([expect.objectContaining({ host: "kvm", reasons: [expect.stringContaining("no libvirt source for image tiny")] })]);
    // an image the catalog does not list goes to any host (the driver resolves it)
    const raw = { ...me, spec: { ...me.spec, disks: [{ name: "root", image: "alpine:3" }] } } as VmObject;
    expect(place(placementRequest(raw, f), candidates(f, raw)).host).toBe("kvm");
  });
});
