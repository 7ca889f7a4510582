import { describe, expect, it } from "vitest";
import { requestCounts, writesBetween, writesTo } from "./api-requests.ts";

const metrics = (applies: number, leases: number): string =>
  [
    "# TYPE apiserver_request_total counter",
    `apiserver_request_total{code="200",component="apiserver",dry_run="",group="omnivisor.io",resource="hosts",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} ${applies}`,
    `apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} ${leases}`,
    'apiserver_request_total{code="200",component="apiserver",dry_run="",group="omnivisor.io",resource="hosts",scope="cluster",subresource="",verb="WATCH",version="v1alpha1"} 7',
  ].join("\n");

describe("API request counts", () => {
  it("counts writes by group, resource and verb; reads only in the total", () => {
    const before = requestCounts(metrics(10, 100));
    const after = requestCounts(metrics(14, 130));
    expect(after.all).toBe(151);
    expect(writesBetween(before, after)).toEqual({ "omnivisor.io hosts/status APPLY": 4, "coordination.k8s.io leases PUT": 30 });
    expect(writesTo("omnivisor.io", writesBetween(before, after))).toBe(4);
  });
});
