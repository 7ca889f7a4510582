// libvirt driver micro-benchmark: define+start+stop+undefine of N VMs (default 20) through the
// driver vs the same through virsh, in the same run, on the same libvirtd, with the same domain
// XML and the same qcow2 disks. Guests are started without waiting for them to boot (virsh does
// not wait either); stop is a hard stop (destroy) in both.
//   driver, one at a time   the driver's own cost per VM (one session, calls in sequence)
//   driver, all at once     what the operator does: N creates in parallel on one connection
//   virsh, one session      `virsh "define a; start a; ..."`: one process, one connection
//   virsh, per command      one virsh process per command, as a shell loop would run it
// Usage: node bench/drivers-libvirt.ts [--vms N] [--uri qemu:///system] [--virt-type qemu|kvm] [--json FILE]
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import type { VmIdentity, VmSpec } from "../drivers/contract/index.ts";
import { domainXml } from "../drivers/libvirt/domain-xml.ts";
import { LibvirtDriver } from "../drivers/libvirt/index.ts";

const run = promisify(execFile);
const { values } = parseArgs({ options: { vms: { type: "string" }, uri: { type: "string" }, "virt-type": { type: "string" }, json: { type: "string" } } });
const count = Number(values.vms ?? 20);
const uri = values.uri ?? "qemu:///system";
const virtType = (values["virt-type"] ?? "qemu") as "qemu" | "kvm";
const tag = randomBytes(3).toString("hex");
const dir = join(tmpdir(), `omni-bench-lv-${tag}`);
const spec: VmSpec = { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], console: true };

interface Result {
  method: string;
  defineStartMs: number;
  stopUndefineMs: number;
  totalMs: number;
  perVmMs: number;
}

function identities(label: string): VmIdentity[] {
  return Array.from({ length: count }, (_, i) => ({ uid: randomUUID(), name: `bench-lv-${tag}-${label}-${String(i).padStart(2, "0")}`, namespace: "bench", kubeName: `${label}${i}` }));
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function result(method: string, defineStartMs: number, stopUndefineMs: number): Result {
  const totalMs = defineStartMs + stopUndefineMs;
  return { method, defineStartMs: Math.round(defineStartMs), stopUndefineMs: Math.round(stopUndefineMs), totalMs: Math.round(totalMs), perVmMs: Math.round((totalMs / count) * 10) / 10 };
}

async function viaDriver(parallel: boolean): Promise<Result> {
  const session = await new LibvirtDriver().connect({ endpoint: uri, libvirt: { virtType, diskDir: dir } }, undefined, AbortSignal.timeout(10_000));
  const ids = identities(parallel ? "dp" : "ds");
  const each = async (fn: (id: VmIdentity) => Promise<unknown>): Promise<void> => {
    if (parallel) await Promise.all(ids.map(fn));
    else for (const id of ids) await fn(id);
  };
  try {
    const up = await timed(() => each((id) => session.createVm(id, { ...spec, power: { state: "Running" } })));
    const down = await timed(() => each((id) => session.deleteVm(id)));
    return result(parallel ? "driver, all at once" : "driver, one at a time", up, down);
  } finally {
    await Promise.all(ids.map((id) => session.deleteVm(id).catch(() => undefined)));
    await session.close();
  }
}

/** The same domain XML and disks the driver makes, written for virsh. */
async function prepareForVirsh(ids: VmIdentity[]): Promise<{ files: string[]; disks: string[] }> {
  const files: string[] = [];
  const disks: string[] = [];
  for (const identity of ids) {
    const disk = join(dir, `${identity.name}-root.qcow2`);
    const xml = domainXml({ identity, virtType, cpus: spec.cpus, memoryMiB: spec.memoryMiB, uuid: identity.uid, disks: [{ path: disk, format: "qcow2" }], nics: [], consoleLog: join(dir, `${identity.name}.console.log`) });
    const file = join(dir, `${identity.name}.xml`);
    await writeFile(file, xml);
    files.push(file);
    disks.push(disk);
  }
  return { files, disks };
}

async function viaVirsh(perCommand: boolean): Promise<Result> {
  const ids = identities(perCommand ? "vc" : "vs");
  const { files, disks } = await prepareForVirsh(ids);
  const virsh = (args: string[]): Promise<unknown> => run("virsh", ["-q", "-c", uri, ...args]);
  try {
    const up = await timed(async () => {
      for (const disk of disks) await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, "1G"]);
      if (perCommand) {
        for (const [i, id] of ids.entries()) {
          await virsh(["define", files[i]!]);
          await virsh(["start", id.name]);
        }
      } else await virsh([ids.flatMap((id, i) => [`define ${files[i]}`, `start ${id.name}`]).join("; ")]);
    });
    const down = await timed(async () => {
      if (perCommand) {
        for (const id of ids) {
          await virsh(["destroy", id.name]);
          await virsh(["undefine", id.name, "--nvram"]);
        }
      } else await virsh([ids.flatMap((id) => [`destroy ${id.name}`, `undefine ${id.name} --nvram`]).join("; ")]);
      await Promise.all(disks.map((d) => rm(d, { force: true })));
    });
    return result(perCommand ? "virsh, per command" : "virsh, one session", up, down);
  } finally {
    for (const id of ids) {
      await virsh(["destroy", id.name]).catch(() => undefined);
      await virsh(["undefine", id.name, "--nvram"]).catch(() => undefined);
    }
  }
}

await mkdir(dir, { recursive: true });
try {
  const results: Result[] = [];
  // One after another, never two at once: they share the host's two cores.
  results.push(await viaDriver(false));
  results.push(await viaVirsh(false));
  results.push(await viaDriver(true));
  results.push(await viaVirsh(true));
  console.log(`libvirt: ${count} VMs define+start+stop+undefine on ${uri} (domain type ${virtType}, not waiting for boot)`);
  console.table(results);
  const bySession = results[1]!.totalMs / results[0]!.totalMs;
  const byCommand = results[3]!.totalMs / results[0]!.totalMs;
  const parallel = results[1]!.totalMs / results[2]!.totalMs;
  console.log(
    `virsh (one session) / driver (one at a time) = ${bySession.toFixed(2)}; virsh (per command) / driver = ${byCommand.toFixed(2)}; ` +
      `virsh (one session) / driver (all at once) = ${parallel.toFixed(2)}`,
  );
  if (values.json) await writeFile(values.json, JSON.stringify({ uri, virtType, vms: count, results, ratios: { bySession, byCommand, parallel } }, null, 2));
} finally {
  await rm(dir, { recursive: true, force: true });
}
