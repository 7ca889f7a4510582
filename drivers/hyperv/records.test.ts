import { describe, expect, it } from "vitest";
import { createdAtMs, type VmJson } from "./records.ts";

const vm = (CreationTime: unknown): VmJson => ({ Id: "x", Name: "x", State: 3, ProcessorCount: 1, MemoryStartup: 0, Notes: null, CreationTime });

describe("createdAtMs (which of two VMs of one uid was made first)", () => {
  const cases: Record<string, { value: unknown; want: number | undefined }> = {
    "Windows PowerShell 5.1's DateTime": { value: "/Date(1796604981514)/", want: 1796604981514 },
    "5.1 with a zone offset": { value: "/Date(1796604981514+0100)/", want: 1796604981514 },
    "PowerShell 7's ISO 8601": { value: "2026-12-07T01:02:03.004Z", want: Date.parse("2026-12-07T01:02:03.004Z") },
    "not given": { value: undefined, want: undefined },
    "not a date": { value: "yesterday-ish", want: undefined },
  };
  for (const [reason, { value, want }] of Object.entries(cases)) {
    it(reason, () => expect(createdAtMs(vm(value))).toBe(want));
  }
});
