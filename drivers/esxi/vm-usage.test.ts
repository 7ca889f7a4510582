import { describe, expect, it } from "vitest";
import { vmUsageOf } from "./vm-usage.ts";
import { parseXml, type XmlElement } from "./vim25/xml.ts";
import type { ObjectContent } from "./vim25/property-collector.ts";

const extra = (uid: string | undefined): XmlElement =>
  parseXml(`<val><OptionValue><key>guestinfo.x</key><value>1</value></OptionValue>${uid ? `<OptionValue><key>io.omnivisor.uid</key><value>${uid}</value></OptionValue>` : ""}</val>`);

function vm(opts: { uid?: string; power?: string; stats: string }): ObjectContent {
  return {
    obj: { type: "VirtualMachine", value: "vm-1" },
    props: new Map([
      ["name", parseXml(`<val>a</val>`)],
      ["config.extraConfig", extra(opts.uid)],
      ["runtime.powerState", parseXml(`<val>${opts.power ?? "poweredOn"}</val>`)],
      ["summary.quickStats", parseXml(`<val>${opts.stats}</val>`)],
    ]),
  };
}

describe("vmUsageOf (summary.quickStats)", () => {
  it("CPUs = overallCpuUsage MHz ÷ the host's MHz per core; memory = consumed host memory, else active guest memory", () => {
    expect(vmUsageOf(vm({ uid: "u1", stats: "<overallCpuUsage>1147</overallCpuUsage><guestMemoryUsage>20</guestMemoryUsage><hostMemoryUsage>70</hostMemoryUsage>" }), 2294)).toEqual({
      uid: "u1",
      cpus: 0.5,
      memoryMiB: 70,
    });
    expect(vmUsageOf(vm({ uid: "u1", stats: "<overallCpuUsage>0</overallCpuUsage><guestMemoryUsage>20</guestMemoryUsage>" }), 2294)).toEqual({ uid: "u1", cpus: 0, memoryMiB: 20 });
  });

  it("leaves out unmanaged and powered-off VMs, and says when a running VM has no figures (vcsim)", () => {
    const stats = "<overallCpuUsage>100</overallCpuUsage><hostMemoryUsage>70</hostMemoryUsage>";
    expect(vmUsageOf(vm({ stats }), 2294)).toBeUndefined();
    expect(vmUsageOf(vm({ uid: "u1", power: "poweredOff", stats }), 2294)).toBeUndefined();
    expect(vmUsageOf(vm({ uid: "u1", stats: "<guestHeartbeatStatus>gray</guestHeartbeatStatus>" }), 2294)).toBe("no-stats");
  });
});
