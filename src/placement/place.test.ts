import { describe, expect, it } from "vitest";
import { matches } from "./labels.ts";
import { place } from "./place.ts";
import type { HostCandidate, PlacementRequest, Resources } from "./types.ts";

const res = (cpus: number, memoryMiB: number, storageGiB = 0): Resources => ({ cpus, memoryMiB, storageGiB });

function host(name: string, over: Partial<HostCandidate> = {}): HostCandidate {
  return {
    name,
    datacenter: "dc1",
    pool: "gold",
    driver: "libvirt",
    labels: {},
    ready: true,
    maintenance: false,
    allocatable: res(8, 16384, 500),
    allocated: res(0, 0, 0),
    vms: [],
    ...over,
  };
}

function vm(over: Partial<PlacementRequest> = {}, resources = res(2, 2048, 10)): PlacementRequest {
  return { vm: { namespace: "t1", name: "web-1", labels: { app: "web" }, resources }, policy: "Performance", ...over };
}

describe("place: filter", () => {
  const cases: { reason: string; request: PlacementRequest; hosts: HostCandidate[]; want: string | undefined; message?: RegExp }[] = [
    { reason: "a host in maintenance takes no new VMs", request: vm(), hosts: [host("a", { maintenance: true }), host("b")], want: "b" },
    { reason: "a host that is not ready takes no VMs", request: vm(), hosts: [host("a", { ready: false }), host("b")], want: "b" },
    { reason: "driver must match", request: vm({ driver: "docker" }), hosts: [host("a"), host("b", { driver: "docker" })], want: "b" },
    {
      reason: "hosts of a driver that cannot do what the VM asks (cloud-init on Docker) are left out",
      request: vm({ unsupportedBy: { docker: "cloudInit: docker cannot (no cloud-init)" } }),
      hosts: [host("a", { driver: "docker", allocatable: res(64, 65536, 500) }), host("b")],
      want: "b",
    },
    {
      reason: "and when they are all there is, the reason says so",
      request: vm({ unsupportedBy: { docker: "cloudInit: docker cannot (no cloud-init)" } }),
      hosts: [host("a", { driver: "docker" })],
      want: undefined,
      message: /cloudInit: docker cannot/,
    },
    {
      reason: "capacity counts allocated and in-flight VMs",
      request: vm({}, res(4, 8192)),
      hosts: [host("a", { allocated: res(6, 1024) }), host("b", { allocated: res(2, 1024) })],
      want: "b",
    },
    {
      reason: "HA reserved capacity is not used for new VMs",
      request: vm({}, res(4, 8192)),
      hosts: [host("a", { haReserved: res(0, 10000) })],
      want: undefined,
      message: /not enough memory \(needs 8192 MiB, 6384 MiB free\)/,
    },
    { reason: "scope: pool", request: vm({ pool: "silver" }), hosts: [host("a"), host("b", { pool: "silver" })], want: "b" },
    { reason: "scope: listed hosts", request: vm({ hosts: ["c"] }), hosts: [host("a"), host("c")], want: "c" },
    {
      reason: "scope with no hosts says so",
      request: vm({ datacenter: "dc9" }),
      hosts: [host("a")],
      want: undefined,
      message: /no hosts in scope \(datacenter dc9\)/,
    },
    {
      reason: "image must be in the host's image store when the host lists its images",
      request: { ...vm(), vm: { ...vm().vm, images: ["debian-12"] } },
      hosts: [host("a", { images: ["tiny"] }), host("b", { images: ["debian-12"] })],
      want: "b",
    },
    {
      reason: "an image with no source for any host's driver fits nowhere, and the message says which",
      request: { ...vm(), vm: { ...vm().vm, images: ["windows-2022"] } },
      hosts: [host("a", { images: ["tiny"] })],
      want: undefined,
      message: /no libvirt source for image windows-2022/,
    },
    {
      reason: "host selector by labels",
      request: vm({ hostSelector: { matchExpressions: [{ key: "ssd", operator: "Exists" }] } }),
      hosts: [host("a"), host("b", { labels: { ssd: "true" } })],
      want: "b",
    },
    {
      reason: "anti-affinity keeps replicas apart",
      request: vm({ antiAffinity: [{ selector: { matchLabels: { app: "web" } }, topology: "Host" }] }),
      hosts: [host("a", { vms: [{ namespace: "t1", name: "web-0", labels: { app: "web" } }] }), host("b", { allocated: res(6, 12000) })],
      want: "b",
    },
    {
      reason: "anti-affinity is per namespace by default",
      request: vm({ antiAffinity: [{ selector: { matchLabels: { app: "web" } }, topology: "Host" }] }),
      hosts: [host("a", { vms: [{ namespace: "other", name: "web-0", labels: { app: "web" } }] })],
      want: "a",
    },
    {
      reason: "affinity keeps a VM with its database",
      request: vm({ affinity: [{ selector: { matchLabels: { app: "db" } }, topology: "Host" }] }),
      hosts: [host("a"), host("b", { allocated: res(4, 8000), vms: [{ namespace: "t1", name: "db-0", labels: { app: "db" } }] })],
      want: "b",
    },
    {
      reason: "affinity by pool accepts any host of the pool holding the match",
      request: vm({ affinity: [{ selector: { matchLabels: { app: "db" } }, topology: "HostPool" }] }),
      hosts: [
        host("a", { pool: "silver", vms: [{ namespace: "t1", name: "db-0", labels: { app: "db" } }] }),
        host("b", { pool: "silver", allocated: res(1, 100) }),
        host("c"),
      ],
      want: "a",
    },
    {
      reason: "the first VM of an affinity group may go anywhere",
      request: vm({ affinity: [{ selector: { matchLabels: { app: "web" } }, topology: "Host" }] }),
      hosts: [host("a")],
      want: "a",
    },
    {
      reason: "none fits: every reason is named",
      request: vm({}, res(16, 1024)),
      hosts: [host("a", { maintenance: true }), host("b")],
      want: undefined,
      message: /none of 2 hosts fits: a: in maintenance; not enough CPU \(needs 16, 8 free\) \| b: not enough CPU/,
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const d = place(c.request, c.hosts);
      expect(d.host).toBe(c.want);
      if (c.message) expect(d.message).toMatch(c.message);
      if (c.want) expect(d.reason).toBe("Placed");
    });
  }
});

describe("place: score", () => {
  it("Performance spreads: the host with the most free resources", () => {
    const d = place(vm(), [host("a", { allocated: res(4, 8192) }), host("b", { allocated: res(1, 1024) }), host("c", { allocated: res(2, 2048) })]);
    expect(d.host).toBe("b");
    expect(d.message).toMatch(/^placed on b \(Performance: most free resources, \d+% of CPU and memory free after placement; 3 of 3 hosts fit\)$/);
  });

  it("Performance breaks exact ties round-robin", () => {
    const hosts = [host("a"), host("b"), host("c")];
    expect([0, 1, 2, 3].map((round) => place(vm(), hosts, { round }).host)).toEqual(["a", "b", "c", "a"]);
  });

  it("Progressive packs: fills one host until it is exhausted, then the next", () => {
    const hosts = [host("a"), host("b")];
    const placed: string[] = [];
    for (let i = 0; i < 6; i++) {
      const d = place(vm({ policy: "Progressive" }, res(2, 4096)), hosts);
      placed.push(d.host!);
      const h = hosts.find((x) => x.name === d.host)!;
      h.allocated = { cpus: h.allocated.cpus + 2, memoryMiB: h.allocated.memoryMiB + 4096, storageGiB: 0 };
    }
    expect(placed).toEqual(["a", "a", "a", "a", "b", "b"]);
  });

  it("Performance over identical hosts spreads evenly as VMs land", () => {
    const hosts = [host("a"), host("b"), host("c")];
    const count: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 9; i++) {
      const d = place(vm(), hosts, { round: i });
      count[d.host!]!++;
      const h = hosts.find((x) => x.name === d.host)!;
      h.allocated = { cpus: h.allocated.cpus + 0.5, memoryMiB: h.allocated.memoryMiB + 1024, storageGiB: 0 };
    }
    expect(count).toEqual({ a: 3, b: 3, c: 3 });
  });
});

describe("label selectors", () => {
  it("follow Kubernetes semantics", () => {
    expect(matches({}, {})).toBe(true);
    expect(matches({ matchLabels: { a: "1" } }, { a: "1", b: "2" })).toBe(true);
    expect(matches({ matchExpressions: [{ key: "a", operator: "In", values: ["1", "2"] }] }, { a: "3" })).toBe(false);
    expect(matches({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] }, {})).toBe(true);
    expect(matches({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] }, { a: "" })).toBe(false);
  });
});
