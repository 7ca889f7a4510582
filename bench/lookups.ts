// Per-VM lookup benchmark (issue #24): what one observeVm(identity) by uid costs as the host fills
// up — 10, 100 and 1,000 VMs on one host — for every driver. Before the per-session uid indexes
// (drivers/lookup), ESXi, XenServer and Hyper-V listed the whole host for each lookup; the
// target is a flat cost: p50 at 1,000 VMs within 2× of p50 at 10. Beside each lookup, one
// listVms at the same size shows what a lookup used to cost on those drivers.
// Hosts: libvirt's test driver through the system libvirtd, Docker's dockerd, vcsim for ESXi, and
// the protocol fakes for XenServer and Hyper-V (in this process: their CPU counts in the timings).
// Timings only; nothing here asserts.
// Usage: node bench/lookups.ts [--only esxi] [--sizes 10,100,1000] [--samples 200] [--docker-max 1000] [--json F] [--markdown F]
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import type { Session, VmIdentity, VmSpec } from "../drivers/contract/index.ts";
import { DockerDriver } from "../drivers/docker/driver.ts";
import { EsxiDriver } from "../drivers/esxi/driver.ts";
import { HyperVDriver } from "../drivers/hyperv/driver.ts";
import { LibvirtDriver } from "../drivers/libvirt/index.ts";
import { XenServerDriver } from "../drivers/xenserver/driver.ts";
import { FakeWinrmServer } from "../tests/fakes/winrm/server.ts";
import { FakeXapiServer } from "../tests/fakes/xapi/server.ts";

interface Target {
  name: string;
  /** Why this driver stops below the largest size, when it does. */
  note?: string;
  maxVms?: number;
  open(): Promise<{ session: Session; spec: VmSpec; close: () => Promise<void> }>;
}

const { values } = parseArgs({
  options: { only: { type: "string" }, sizes: { type: "string" }, samples: { type: "string" }, "docker-max": { type: "string" }, json: { type: "string" }, markdown: { type: "string" } },
});
const sizes = (values.sizes ?? "10,100,1000").split(",").map(Number);
const samples = Number(values.samples ?? 200);
const dockerMax = Number(values["docker-max"] ?? 1000);

const targets: Target[] = [
  {
    name: "xenserver (FAKE XAPI)",
    async open() {
      const credentials = { username: "root", password: "bench" };
      const fake = await FakeXapiServer.start({ ...credentials, host: { cpus: 64, memoryGiB: 4096 } });
      const session = await new XenServerDriver().connect({ endpoint: fake.url }, credentials, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 64, disks: [] }, close: () => fake.stop() };
    },
  },
  {
    name: "hyperv (FAKE WinRM)",
    async open() {
      const credentials = { username: "Administrator", password: "bench-winrm" };
      const fake = await FakeWinrmServer.start(credentials);
      const session = await new HyperVDriver({ pollIntervalMs: 2_000 }).connect({ endpoint: fake.url, tls: { caPem: fake.caPem } }, credentials, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 64, disks: [], networks: [] }, close: () => fake.stop() };
    },
  },
  {
    name: `esxi (vcsim ${process.env["VCSIM_ADDR"] ?? "127.0.0.1:8989"})`,
    async open() {
      const endpoint = `https://${process.env["VCSIM_ADDR"] ?? "127.0.0.1:8989"}/sdk`;
      const session = await new EsxiDriver().connect({ endpoint, tls: { insecureSkipVerify: true } }, { username: "bench", password: "bench" }, AbortSignal.timeout(30_000));
      return { session, spec: { cpus: 1, memoryMiB: 32, disks: [] }, close: () => Promise.resolve() };
    },
  },
  {
    name: "libvirt (test driver via libvirtd)",
    async open() {
      // a simulated host of its own (a node file: private state), big enough for 1,000 VMs
      const dir = join(tmpdir(), `omni-bench-lookups-${process.pid}`);
      await mkdir(dir, { recursive: true });
      const node = join(dir, "node.xml");
      await writeFile(node, "<node><cpu><nodes>1</nodes><sockets>2</sockets><cores>32</cores><threads>2</threads><active>128</active><mhz>2600</mhz><model>x86_64</model></cpu><memory>1073741824</memory></node>");
      const session = await new LibvirtDriver().connect({ endpoint: `test+unix://${node}?socket=/run/libvirt/libvirt-sock` }, undefined, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 1, memoryMiB: 16, disks: [], networks: [] }, close: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "docker (dockerd)",
    maxVms: dockerMax,
    note: `created, not started, containers (up to --docker-max, ${dockerMax}); a lookup inspects by name and checks the uid label, a miss lists by label (inside dockerd, a walk over every container)`,
    async open() {
      const session = await new DockerDriver().connect({ endpoint: "unix:///var/run/docker.sock" }, undefined, AbortSignal.timeout(10_000));
      return { session, spec: { cpus: 0.1, memoryMiB: 8, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] } }, close: () => Promise.resolve() };
    },
  },
];

interface SizeResult {
  vms: number;
  lookup: { samples: number; p50Ms: number; p95Ms: number };
  /** One listVms at this size: the cost of a lookup where a driver lists the host. */
  listVmsMs: number;
}

interface TargetResult {
  driver: string;
  note?: string;
  sizes: SizeResult[];
  /** p50 at the largest size ÷ p50 at the smallest. */
  ratio: number | null;
  error?: string;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
const round = (n: number): number => Math.round(n * 100) / 100;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Runs fn over items, at most `width` at a time. */
async function batched<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

async function measure(target: Target): Promise<TargetResult> {
  const prefix = `bl-${target.name.split(" ")[0]}-${process.pid}`;
  const { session, spec, close } = await target.open();
  const made: VmIdentity[] = [];
  const result: TargetResult = { driver: target.name, sizes: [], ratio: null };
  if (target.note !== undefined) result.note = target.note;
  try {
    for (const size of sizes.filter((s) => s <= (target.maxVms ?? Infinity))) {
      const wanted = Array.from({ length: size - made.length }, (_, i) => {
        const n = made.length + i;
        return { uid: randomUUID(), name: `${prefix}-${String(n).padStart(4, "0")}`, namespace: "bench", kubeName: `vm-${n}` };
      });
      await batched(wanted, 8, async (identity) => {
        await session.createVm(identity, spec);
        made.push(identity);
      });
      // Warm-up (JIT, connections), so the first size does not pay for it.
      for (let i = 0; i < 50; i++) await session.observeVm(made[i % made.length]!);
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const identity = made[Math.floor(Math.random() * made.length)]!;
        times.push(await timed(async () => {
          if ((await session.observeVm(identity)) === undefined) throw new Error(`${target.name}: ${identity.name} not found by uid`);
        }));
      }
      times.sort((a, b) => a - b);
      const listVmsMs = await timed(() => session.listVms());
      const r: SizeResult = { vms: size, lookup: { samples, p50Ms: round(quantile(times, 0.5)), p95Ms: round(quantile(times, 0.95)) }, listVmsMs: round(listVmsMs) };
      console.log(`${target.name}: ${size} VMs — observeVm p50 ${r.lookup.p50Ms} ms, p95 ${r.lookup.p95Ms} ms; listVms ${r.listVmsMs} ms`);
      result.sizes.push(r);
    }
    const [first, last] = [result.sizes[0], result.sizes.at(-1)];
    if (first && last && last !== first) result.ratio = round(last.lookup.p50Ms / first.lookup.p50Ms);
  } finally {
    await batched([...made], 8, (identity) => session.deleteVm(identity).catch(() => undefined));
    await session.close();
    await close();
  }
  return result;
}

function markdown(results: TargetResult[]): string {
  const lines = [
    "# Per-VM lookup benchmark",
    "",
    `${new Date().toISOString()} — observeVm(identity) by uid on one host holding N VMs: ${samples} lookups of random VMs per size, one after another.`,
    "listVms at the same size is what a lookup cost when the driver listed the host for it. Target: lookup p50 at the largest size ≤ 2 × p50 at 10 VMs.",
    "",
    "| driver | VMs | lookup p50 | lookup p95 | listVms | ",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    for (const s of r.sizes) lines.push(`| ${r.driver} | ${s.vms} | ${s.lookup.p50Ms} ms | ${s.lookup.p95Ms} ms | ${s.listVmsMs} ms |`);
    if (r.error !== undefined) lines.push(`| ${r.driver} | — | not run: ${r.error} | | |`);
  }
  lines.push("", "| driver | p50 largest ÷ p50 at 10 | note |", "| --- | ---: | --- |");
  for (const r of results) lines.push(`| ${r.driver} | ${r.ratio ?? "—"} (${r.sizes.at(-1)?.vms ?? 0} ÷ ${r.sizes[0]?.vms ?? 0} VMs) | ${r.note ?? ""} |`);
  return `${lines.join("\n")}\n`;
}

const results: TargetResult[] = [];
for (const target of targets.filter((t) => values.only === undefined || t.name.startsWith(values.only))) {
  try {
    results.push(await measure(target));
  } catch (err) {
    console.error(`${target.name}: ${String(err)}`);
    results.push({ driver: target.name, sizes: [], ratio: null, error: String(err instanceof Error ? err.message : err) });
  }
}
for (const [file, text] of [[values.json, JSON.stringify(results, null, 2)], [values.markdown, markdown(results)]] as const) {
  if (file === undefined) continue;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
