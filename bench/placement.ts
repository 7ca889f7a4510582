// Placement decision latency: 1,000 VMs placed one after another over 1,000 hosts (a pure
// function; each decision sees the allocations of the ones before it). Reports p50 / p99.
// Usage: node bench/placement.ts [--hosts N] [--vms N] [--json FILE]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { place } from "../src/placement/place.ts";
import type { HostCandidate, PlacementRequest } from "../src/placement/types.ts";

const { values } = parseArgs({ options: { hosts: { type: "string" }, vms: { type: "string" }, json: { type: "string" } } });
const hostCount = Number(values.hosts ?? 1000);
const vmCount = Number(values.vms ?? 1000);

const hosts: HostCandidate[] = Array.from({ length: hostCount }, (_, i) => ({
  name: `host-${String(i).padStart(4, "0")}`,
  datacenter: `dc-${i % 2}`,
  pool: `pool-${i % 10}`,
  driver: i % 5 === 0 ? "docker" : "libvirt",
  labels: { rack: `r${i % 40}`, ...(i % 3 === 0 ? { ssd: "true" } : {}) },
  ready: i % 97 !== 0,
  maintenance: i % 89 === 0,
  allocatable: { cpus: 64, memoryMiB: 262144, storageGiB: 4000 },
  allocated: { cpus: (i * 7) % 48, memoryMiB: ((i * 13) % 180) * 1024, storageGiB: 0 },
  vms: Array.from({ length: 4 }, (_, j) => ({ namespace: `t${j % 3}`, name: `vm-${i}-${j}`, labels: { app: `app-${(i + j) % 50}` } })),
}));

const latencies: number[] = [];
let placed = 0;
for (let n = 0; n < vmCount; n++) {
  const request: PlacementRequest = {
    vm: { namespace: `t${n % 3}`, name: `new-${n}`, labels: { app: `app-${n % 50}` }, resources: { cpus: 2, memoryMiB: 4096, storageGiB: 20 } },
    policy: n % 2 === 0 ? "Performance" : "Progressive",
    datacenter: `dc-${n % 2}`,
    driver: "libvirt",
    ...(n % 4 === 0 ? { hostSelector: { matchLabels: { ssd: "true" } } } : {}),
    antiAffinity: [{ selector: { matchLabels: { app: `app-${n % 50}` } }, topology: "Host" }],
  };
  const start = process.hrtime.bigint();
  const d = place(request, hosts, { round: n });
  latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  if (d.host) {
    placed++;
    const h = hosts.find((x) => x.name === d.host)!;
    h.allocated = { cpus: h.allocated.cpus + 2, memoryMiB: h.allocated.memoryMiB + 4096, storageGiB: h.allocated.storageGiB + 20 };
    h.vms = [...h.vms, request.vm];
  }
}
latencies.sort((a, b) => a - b);
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
const result = { hosts: hostCount, vms: vmCount, placed, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1)!, targetP99Ms: 5 };
console.log(`placement: ${vmCount} VMs over ${hostCount} hosts, ${placed} placed — p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms (target p99 < 5 ms)`);
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
