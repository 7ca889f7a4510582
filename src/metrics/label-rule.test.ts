import { describe, expect, it } from "vitest";
import { parseExposition, perVmLabels } from "./label-rule.ts";

const text = `# HELP x y
omnivisor_resources{kind="VirtualMachine",namespace="t",phase="Running"} 2
omnivisor_host_virtual_machines{host="h1",phase="Running"} 1
bad_metric{vm="box-1"} 1
sneaky{host="box-2"} 1
`;

describe("the per-VM label rule", () => {
  it("given a scrape, then a label named for a VM or a value that is a VM's name is reported, counts by host and namespace are not", () => {
    const series = parseExposition(text);
    expect(series).toHaveLength(4);
    expect(perVmLabels(series, { names: ["box-1", "box-2"], uids: [] })).toEqual(["bad_metric: label vm", 'sneaky: host="box-2" names a VirtualMachine']);
  });
});
