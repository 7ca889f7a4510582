import { describe, expect, it } from "vitest";
import { vmUsageFromOutput } from "./vm-usage.ts";

const notes = (uid: string): string => `omnivisor: ${JSON.stringify({ "io.omnivisor.uid": uid })}`;

describe("vmUsageFromOutput (Get-VMHost, then Get-VM with CPUUsage and MemoryAssigned)", () => {
  it("cores = CPUUsage % of the host's logical processors; memory = MemoryAssigned", () => {
    const vms = [
      { Id: "a", Name: "a", State: 2, Notes: notes("u1"), CPUUsage: 25, MemoryAssigned: 512 * 1024 ** 2 },
      { Id: "b", Name: "b", State: "Paused", Notes: notes("u2"), CPUUsage: 0, MemoryAssigned: 256 * 1024 ** 2 },
      { Id: "c", Name: "c", State: 3, Notes: notes("u3"), CPUUsage: 0, MemoryAssigned: 0 },
      { Id: "d", Name: "d", State: 2, Notes: "hand-made", CPUUsage: 50, MemoryAssigned: 1024 ** 3 },
    ];
    const output = `${JSON.stringify({ LogicalProcessorCount: 16 })}\n${JSON.stringify(vms)}`;
    expect(vmUsageFromOutput(output)).toEqual([
      { uid: "u1", cpus: 4, memoryMiB: 512 },
      { uid: "u2", cpus: 0, memoryMiB: 256 },
    ]);
  });

  it("a host without VMs prints no second line", () => {
    expect(vmUsageFromOutput(`${JSON.stringify({ LogicalProcessorCount: 16 })}\n`)).toEqual([]);
  });
});
