import { describe, expect, it } from "vitest";
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";
import type { Fleet } from "../../src/fleet/placement-input.ts";
import { Reservations, VmsByHost } from "../../src/fleet/vms-by-host.ts";
import { chooseTarget } from "./target.ts";

const ready = [
  { type: "Ready", status: "True" },
  { type: "Reachable", status: "True" },
];
const host = (name: string, memory: string, extra: { driver?: string; maintenance?: boolean; endpoint?: string } = {}): HostObject =>
  ({
    metadata: { name, labels: {} },
    spec: { datacenter: "dc", driver: extra.driver ?? "libvirt", endpoint: extra.endpoint ?? `qemu+tcp://${name}/system`, maintenance: extra.maintenance ?? false },
    status: { allocatable: { cpus: 8, memory }, conditions: ready },
  }) as unknown as HostObject;
const vm = (hostName: string, placement?: VmObject["spec"]["placement"]): VmObject =>
  ({ metadata: { name: "web", namespace: "t", labels: {} }, spec: { cpus: 1, memory: "2Gi", powerState: "Running", placement }, status: { host: hostName } }) as unknown as VmObject;

function fleet(hosts: HostObject[], vms: VmObject[]): Fleet {
  const placed = new VmsByHost();
  for (const v of vms) placed.put(v);
  return { hosts, pools: [], datacenters: [], placed, reservations: new Reservations(), vm: () => undefined };
}

describe("a migration's target", () => {
  const a = host("a", "8Gi");
  const b = host("b", "8Gi");
  const small = host("small", "1Gi");

  it("given no targetHost, then placement picks another host of the scope, never the source", () => {
    const me = vm("a");
    expect(chooseTarget(fleet([a, b, small], [me]), me, a, undefined)).toMatchObject({ host: "b" });
  });

  it("given no other host fits, then it fails naming why each does not", () => {
    const me = vm("a");
    const choice = chooseTarget(fleet([a, small, host("m", "64Gi", { maintenance: true })], [me]), me, a, undefined);
    expect(choice).toMatchObject({ failed: "NoTarget" });
    expect("message" in choice && choice.message).toMatch(/small: .*memory/);
    expect("message" in choice && choice.message).toMatch(/m: .*maintenance/);
  });

  it("given a targetHost, then it is used if it fits, and refused with the reason otherwise", () => {
    const me = vm("a");
    const f = fleet([a, b, small, host("d", "64Gi", { driver: "docker" })], [me]);
    expect(chooseTarget(f, me, a, "b")).toMatchObject({ host: "b" });
    expect(chooseTarget(f, me, a, "a")).toEqual({ failed: "AlreadyOnTarget", message: "the VM is already on host a" });
    expect(chooseTarget(f, me, a, "nope")).toEqual({ failed: "TargetNotFound", message: "host nope does not exist" });
    expect(chooseTarget(f, me, a, "d")).toMatchObject({ failed: "DriverMismatch" });
    const unsuitable = chooseTarget(f, me, a, "small");
    expect(unsuitable).toMatchObject({ failed: "TargetUnsuitable" });
    expect(unsuitable.message).toContain("host small cannot take the VM");
  });

  it("given a VM pinned to its host by placement.hosts, then it has nowhere to go", () => {
    const me = vm("a", { hosts: ["a"] });
    const pinned = chooseTarget(fleet([a, b], [me]), me, a, undefined);
    expect(pinned).toMatchObject({ failed: "NoTarget" });
    expect(pinned.message).toContain("no hosts in scope");
  });

  it("given two Host objects for one machine (the same endpoint), then neither is a target for the other", () => {
    const me = vm("a");
    const twin = host("twin", "64Gi", { endpoint: a.spec.endpoint });
    const f = fleet([a, twin], [me]);
    expect(chooseTarget(f, me, a, "twin")).toMatchObject({ failed: "SameMachine" });
    expect(chooseTarget(f, me, a, undefined)).toMatchObject({ failed: "NoTarget" });
  });
});
