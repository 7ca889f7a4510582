import { describe, expect, it } from "vitest";
import { errorKind, type MigrationProgress } from "../contract/index.ts";
import { migrationCall, progressOf, resultOf, sharesStorage, type MigrationRequest } from "./migration-job.ts";
import { Flags, JobOperation, JobType } from "./rpc/procedures.ts";
import type { TypedValue } from "./rpc/typed-params.ts";

const base = Flags.MIGRATE_PEER2PEER | Flags.MIGRATE_PERSIST_DEST | Flags.MIGRATE_UNDEFINE_SOURCE;
const MiB = 2 ** 20;

describe("migrationCall", () => {
  const cases: Record<string, { request: MigrationRequest; flags: number; bandwidth?: bigint }> = {
    "a running VM between hosts sharing storage: live, memory only": {
      request: { power: "Running", live: true, copyDisks: false },
      flags: base | Flags.MIGRATE_LIVE | Flags.MIGRATE_UNSAFE,
    },
    "a running VM to a host without its storage: live, disks copied whole": {
      request: { power: "Running", live: true, copyDisks: true },
      flags: base | Flags.MIGRATE_LIVE | Flags.MIGRATE_NON_SHARED_DISK,
    },
    "a paused VM moves live too (it stays paused)": {
      request: { power: "Paused", live: true, copyDisks: false },
      flags: base | Flags.MIGRATE_LIVE | Flags.MIGRATE_UNSAFE,
    },
    "a running VM with live false: paused while it moves": {
      request: { power: "Running", live: false, copyDisks: false },
      flags: base | Flags.MIGRATE_UNSAFE,
    },
    "a stopped VM: offline, its definition only": {
      request: { power: "Stopped", live: true, copyDisks: false },
      flags: base | Flags.MIGRATE_OFFLINE | Flags.MIGRATE_UNSAFE,
    },
    "a bandwidth limit becomes the bandwidth parameter, whole MiB/s": {
      request: { power: "Running", live: true, copyDisks: false, bandwidthMiBps: 12.5 },
      flags: base | Flags.MIGRATE_LIVE | Flags.MIGRATE_UNSAFE,
      bandwidth: 13n,
    },
  };
  for (const [name, { request, flags, bandwidth }] of Object.entries(cases)) {
    it(name, () => {
      const call = migrationCall(request);
      expect(call.flags).toBe(flags);
      expect(call.params.find((p) => p.field === "bandwidth")?.value).toBe(bandwidth);
    });
  }

  it("refuses to copy the disks of a stopped VM (libvirt copies through the running QEMU)", () => {
    let err: unknown;
    try {
      migrationCall({ power: "Stopped", live: true, copyDisks: true });
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe("unsupported");
  });
});

describe("sharesStorage", () => {
  it.each([
    ["nfs-1", "nfs-1", true],
    ["nfs-1", "nfs-2", false],
    ["nfs-1", undefined, false],
    [undefined, undefined, false],
    ["", "", false],
  ])("%j and %j: %j", (a, b, shared) => expect(sharesStorage(a, b)).toBe(shared));
});

const stats = (type: number, fields: Record<string, TypedValue>): { type: number; fields: Map<string, TypedValue> } => ({ type, fields: new Map(Object.entries(fields)) });

describe("progressOf", () => {
  const cases: Record<string, { type: number; fields: Record<string, TypedValue>; want: MigrationProgress | undefined }> = {
    "no job": { type: JobType.None, fields: {}, want: undefined },
    "a job that is not a migration out (an incoming one)": { type: JobType.Unbounded, fields: { operation: JobOperation.MigrationIn, memory_total: 1n }, want: undefined },
    "a migration just set up: no numbers yet": { type: JobType.Unbounded, fields: { operation: JobOperation.MigrationOut }, want: { percent: 0 } },
    "memory only, by what is left": {
      type: JobType.Unbounded,
      fields: { operation: JobOperation.MigrationOut, memory_total: BigInt(256 * MiB), memory_processed: BigInt(26 * MiB), memory_remaining: BigInt(192 * MiB) },
      want: { memoryTotalBytes: 256 * MiB, memoryProcessedBytes: 26 * MiB, memoryRemainingBytes: 192 * MiB, percent: 25 },
    },
    "memory sent again (processed past the total) does not pass 100": {
      type: JobType.Unbounded,
      fields: { operation: JobOperation.MigrationOut, memory_total: BigInt(100 * MiB), memory_processed: BigInt(300 * MiB) },
      want: { memoryTotalBytes: 100 * MiB, memoryProcessedBytes: 300 * MiB, percent: 100 },
    },
    "memory and disk together": {
      type: JobType.Unbounded,
      fields: {
        operation: JobOperation.MigrationOut,
        memory_total: BigInt(256 * MiB),
        memory_remaining: BigInt(256 * MiB),
        disk_total: BigInt(768 * MiB),
        disk_processed: BigInt(512 * MiB),
        disk_remaining: BigInt(256 * MiB),
      },
      want: { memoryTotalBytes: 256 * MiB, memoryRemainingBytes: 256 * MiB, diskTotalBytes: 768 * MiB, diskProcessedBytes: 512 * MiB, diskRemainingBytes: 256 * MiB, percent: 50 },
    },
    "an older libvirt without the operation field": { type: JobType.Bounded, fields: { memory_total: 4n, memory_remaining: 1n }, want: { memoryTotalBytes: 4, memoryRemainingBytes: 1, percent: 75 } },
  };
  for (const [name, { type, fields, want }] of Object.entries(cases)) {
    it(name, () => expect(progressOf(stats(type, fields))).toEqual(want));
  }
});

describe("resultOf", () => {
  it("reads the downtime of a completed job, and nothing of anything else", () => {
    expect(resultOf(stats(JobType.Completed, { downtime: 13n, memory_total: 1n }))).toEqual({ downtimeMs: 13 });
    expect(resultOf(stats(JobType.Completed, {}))).toEqual({});
    expect(resultOf(stats(JobType.None, { downtime: 13n }))).toEqual({});
    expect(resultOf(undefined)).toEqual({});
  });
});
