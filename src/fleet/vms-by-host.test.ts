import { describe, expect, it } from "vitest";
import type { VmObject } from "./kinds.ts";
import { Reservations, VmsByHost } from "./vms-by-host.ts";

const vm = (name: string, host: string | undefined, cpus = 1, memory = "1Gi"): VmObject =>
  ({ metadata: { name, namespace: "t" }, spec: { cpus, memory, disks: [{ name: "d", size: "10Gi" }] }, status: host ? { host } : {} }) as unknown as VmObject;

describe("VMs by host", () => {
  it("keeps members and summed demand per host through adds, moves, resizes and deletes", () => {
    const index = new VmsByHost();
    index.put(vm("a", "h1"));
    index.put(vm("b", "h1", 2, "2Gi"));
    index.put(vm("c", undefined));
    expect(index.demand("h1")).toEqual({ cpus: 3, memoryMiB: 3072, storageGiB: 20 });
    expect(index.on("h1").map((v) => v.metadata.name).sort()).toEqual(["a", "b"]);
    expect(index.hostOf("t/c")).toBeUndefined();

    index.put(vm("b", "h2", 4, "4Gi")); // moved and resized
    expect(index.demand("h1")).toEqual({ cpus: 1, memoryMiB: 1024, storageGiB: 10 });
    expect(index.demand("h2")).toEqual({ cpus: 4, memoryMiB: 4096, storageGiB: 10 });
    expect(index.hostOf("t/b")).toBe("h2");

    index.remove("t/a");
    index.remove("t/a"); // twice is harmless
    expect(index.demand("h1")).toEqual({ cpus: 0, memoryMiB: 0, storageGiB: 0 });
    expect(index.count("h1")).toBe(0);
    expect(index.on("h1")).toEqual([]);
    index.put(vm("b", undefined)); // unplaced again
    expect(index.count("h2")).toBe(0);
  });

  it("reservations keep per-host demand and members, and forget what is deleted or moved", () => {
    const r = new Reservations();
    r.set("t/a", "h1", vm("a", undefined, 2, "2Gi"));
    r.set("t/b", "h1", vm("b", undefined));
    expect(r.demand("h1")).toEqual({ cpus: 3, memoryMiB: 3072, storageGiB: 20 });
    r.set("t/b", "h2", vm("b", undefined));
    expect(r.on("h1")).toEqual(["t/a"]);
    expect(r.get("t/b")).toBe("h2");
    r.delete("t/a");
    expect(r.demand("h1")).toEqual({ cpus: 0, memoryMiB: 0, storageGiB: 0 });
    expect(r.size).toBe(1);
  });
});
