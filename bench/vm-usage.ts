// Per-VM live usage benchmark (issue #26): what one observeVmUsage() costs on a host running N
// managed VMs (default 10), for every driver — the Host controller makes this call on each host
// observation (every 15 s by default). libvirt on qemu:///system (KVM guests that idle in
// SeaBIOS, one CONNECT_GET_ALL_DOMAIN_STATS), Docker's dockerd (running busybox containers, one
// list + one stats request each), vcsim for ESXi (one PropertyCollector read; vcsim publishes no
// quickStats, so the call ends refused — its time is still the read), and the protocol fakes for
// XenServer and Hyper-V (in this process: their CPU counts in the timings). Timings only.
// Usage: node bench/vm-usage.ts [--only docker] [--vms 10] [--samples 20] [--json F] [--markdown F]
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import type { Session, VmIdentity, VmSpec, VmUsageSample } from "../drivers/contract/index.ts";
import { DockerDriver } from "../drivers/docker/driver.ts";
import { EsxiDriver } from "../drivers/esxi/driver.ts";
import { HyperVDriver } from "../drivers/hyperv/driver.ts";
import { LibvirtDriver } from "../drivers/libvirt/index.ts";
import { XenServerDriver } from "../drivers/xenserver/driver.ts";
import { FakeWinrmServer } from "../tests/fakes/winrm/server.ts";
import { FakeXapiServer } from "../tests/fakes/xapi/server.ts";

interface Target {
  name: string;
  /** What a reader of the figures should know about this driver's cost. */
  note?: string;
  open(): Promise<{ session: Session; spec: VmSpec; close: () => Promise<void> }>;
}

const { values } = parseArgs({ options: { only: { type: "string" }, vms: { type: "string" }, samples: { type: "string" }, json: { type: "string" }, markdown: { type: "string" } } });
const vms = Number(values.vms ?? 10);
const samples = Number(values.samples ?? 20);
const running = { state: "Running", mode: "Hard" } as const;

const targets: Target[] = [
  {
    name: "libvirt (qemu:///system, KVM)",
    async open() {
      const session = await new LibvirtDriver().connect({ endpoint: "qemu:///system", libvirt: { virtType: "kvm" } }, undefined, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], power: running }, close: () => Promise.resolve() };
    },
  },
  {
    name: "docker (dockerd)",
    note: "dockerd's stats collector publishes once a second and a stats request waits for its next round (one-shot only skips the second); the requests run in parallel, so the cost is about 1 s whatever the number of containers",
    async open() {
      const session = await new DockerDriver().connect({ endpoint: "unix:///var/run/docker.sock" }, undefined, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 0.1, memoryMiB: 16, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] }, power: running }, close: () => Promise.resolve() };
    },
  },
  {
    name: `esxi (vcsim ${process.env["VCSIM_ADDR"] ?? "127.0.0.1:8989"})`,
    async open() {
      const endpoint = `https://${process.env["VCSIM_ADDR"] ?? "127.0.0.1:8989"}/sdk`;
      const session = await new EsxiDriver().connect({ endpoint, tls: { insecureSkipVerify: true } }, { username: "bench", password: "bench" }, AbortSignal.timeout(30_000));
      return { session, spec: { cpus: 1, memoryMiB: 32, disks: [], power: running }, close: () => Promise.resolve() };
    },
  },
  {
    name: "xenserver (FAKE XAPI)",
    async open() {
      const credentials = { username: "root", password: "bench" };
      const fake = await FakeXapiServer.start({ ...credentials, host: { cpus: 64, memoryGiB: 4096 } });
      const session = await new XenServerDriver().connect({ endpoint: fake.url }, credentials, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 64, disks: [], power: running }, close: () => fake.stop() };
    },
  },
  {
    name: "hyperv (FAKE WinRM)",
    async open() {
      const credentials = { username: "Administrator", password: "bench-winrm" };
      const fake = await FakeWinrmServer.start(credentials);
      const session = await new HyperVDriver({ pollIntervalMs: 2_000 }).connect({ endpoint: fake.url, tls: { caPem: fake.caPem } }, credentials, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 64, disks: [], networks: [], power: running }, close: () => fake.stop() };
    },
  },
];

interface Result {
  driver: string;
  vms: number;
  samples: number;
  p50Ms?: number;
  p95Ms?: number;
  /** What the last call said of the bench's own VMs: how many it reported, with what sums. */
  reported?: { vms: number; cpus: number; memoryMiB: number };
  /** Why the call is refused on this host, or why the bench could not run. */
  note?: string;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
const round = (n: number): number => Math.round(n * 100) / 100;

async function measure(target: Target): Promise<Result> {
  const prefix = `bu-${target.name.split(" ")[0]}-${process.pid}`;
  const { session, spec, close } = await target.open();
  const made: VmIdentity[] = [];
  const result: Result = { driver: target.name, vms, samples };
  if (target.note !== undefined) result.note = target.note;
  try {
    const observe = session.observeVmUsage?.bind(session);
    if (!observe) return { ...result, note: "no observeVmUsage" };
    const wanted = Array.from({ length: vms }, (_, i) => ({ uid: randomUUID(), name: `${prefix}-${i}`, namespace: "bench", kubeName: `vm-${i}` }));
    for (let i = 0; i < wanted.length; i += 5) {
      await Promise.all(wanted.slice(i, i + 5).map(async (identity) => {
        await session.createVm(identity, spec);
        made.push(identity);
      }));
    }
    const times: number[] = [];
    let last: VmUsageSample[] = [];
    for (let i = 0; i <= samples; i++) {
      const start = process.hrtime.bigint();
      try {
        last = await observe();
      } catch (err) {
        result.note = `refused: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (i > 0) times.push(Number(process.hrtime.bigint() - start) / 1e6); // the first call is the warm-up (and the first CPU sample)
      await new Promise((r) => setTimeout(r, 100));
    }
    times.sort((a, b) => a - b);
    const mine = last.filter((s) => made.some((m) => m.uid === s.uid));
    result.p50Ms = round(quantile(times, 0.5));
    result.p95Ms = round(quantile(times, 0.95));
    result.reported = { vms: mine.length, cpus: round(mine.reduce((a, s) => a + (s.cpus ?? 0), 0)), memoryMiB: round(mine.reduce((a, s) => a + s.memoryMiB, 0)) };
    console.log(`${target.name}: ${vms} VMs — observeVmUsage p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms; reported ${JSON.stringify(result.reported)}${result.note ? `; ${result.note}` : ""}`);
    return result;
  } finally {
    await Promise.all(made.map((identity) => session.deleteVm(identity).catch(() => undefined)));
    await session.close();
    await close();
  }
}

function markdown(results: Result[]): string {
  const lines = [
    "# Per-VM live usage benchmark",
    "",
    `${new Date().toISOString()} — one observeVmUsage() on a host running ${vms} managed VMs, ${samples} calls one after another (100 ms apart) after a warm-up call.`,
    "",
    "| driver | VMs | p50 | p95 | reported (VMs, CPUs busy, MiB) | note |",
    "| --- | ---: | ---: | ---: | --- | --- |",
  ];
  for (const r of results) {
    const reported = r.reported ? `${r.reported.vms}, ${r.reported.cpus}, ${r.reported.memoryMiB}` : "—";
    lines.push(`| ${r.driver} | ${r.vms} | ${r.p50Ms ?? "—"} ms | ${r.p95Ms ?? "—"} ms | ${reported} | ${r.note ?? ""} |`);
  }
  return `${lines.join("\n")}\n`;
}

const results: Result[] = [];
for (const target of targets.filter((t) => values.only === undefined || t.name.startsWith(values.only))) {
  try {
    results.push(await measure(target));
  } catch (err) {
    console.error(`${target.name}: ${String(err)}`);
    results.push({ driver: target.name, vms, samples, note: `not run: ${err instanceof Error ? err.message : String(err)}` });
  }
}
for (const [file, text] of [[values.json, JSON.stringify(results, null, 2)], [values.markdown, markdown(results)]] as const) {
  if (file === undefined) continue;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
