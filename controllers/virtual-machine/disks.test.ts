import { describe, expect, it } from "vitest";
import type { VmObservation } from "../../drivers/contract/index.ts";
import type { VmObject } from "../../src/fleet/kinds.ts";
import { disksToGrow } from "./steps.ts";

const vm = (disks: { name: string; size?: string }[]): VmObject => ({ metadata: { name: "v" }, spec: { disks } }) as unknown as VmObject;
const seen = (disks?: { name: string; sizeGiB: number }[]): VmObservation => ({ externalId: "x", name: "v", managed: true, power: "Running", cpus: 1, memoryMiB: 64, addresses: [], ...(disks ? { disks } : {}) });

describe("which disks grow", () => {
  it.each([
    { why: "a disk whose spec size is larger than reported grows", spec: [{ name: "root", size: "2Gi" }], reported: [{ name: "root", sizeGiB: 1 }], grow: [{ name: "root", fromGiB: 1, toGiB: 2 }] },
    { why: "never shrinks", spec: [{ name: "root", size: "1Gi" }], reported: [{ name: "root", sizeGiB: 4 }], grow: [] },
    { why: "sizes are compared in whole GiB, rounded up (1536Mi is 2)", spec: [{ name: "root", size: "1536Mi" }], reported: [{ name: "root", sizeGiB: 2 }], grow: [] },
    { why: "a disk without a spec size keeps its size", spec: [{ name: "root" }], reported: [{ name: "root", sizeGiB: 1 }], grow: [] },
    { why: "a disk the driver does not report is left alone", spec: [{ name: "data", size: "5Gi" }], reported: [{ name: "root", sizeGiB: 1 }], grow: [] },
    { why: "a driver that reports no disk sizes grows nothing", spec: [{ name: "root", size: "5Gi" }], reported: undefined, grow: [] },
  ])("$why", ({ spec, reported, grow }) => {
    expect(disksToGrow(vm(spec), seen(reported))).toEqual(grow);
  });
});
