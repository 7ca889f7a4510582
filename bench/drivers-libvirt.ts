// The libvirt side of the driver micro-benchmark (bench/drivers.ts runs it beside Docker's): the
// libvirt driver (remote protocol, one session) vs virsh (one process per step), on the same
// libvirtd, with the same domain XML and the same qcow2 disks (volumes of the same pool). Guests are started without waiting
// for them to boot (virsh does not wait either); stop is a hard stop (destroy) in both.
// Run alone: node bench/drivers-libvirt.ts [--vms N] [--uri qemu:///system] [--virt-type qemu|kvm]
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import type { VmIdentity, VmSpec } from "../drivers/contract/index.ts";
import { domainXml } from "../drivers/libvirt/domain-xml.ts";
import { defaultPoolName, LibvirtDriver } from "../drivers/libvirt/index.ts";

const run = promisify(execFile);
const spec: VmSpec = { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], console: true };

const phases = ["define", "start", "stop", "undefine"] as const;
/** One way of driving a VM's lifecycle, phase by phase (the shape bench/drivers.ts expects). */
type Steps = Record<(typeof phases)[number], (name: string) => Promise<void>>;

export function libvirtBench(uri = "qemu:///system", virtType: "qemu" | "kvm" = "qemu") {
  return {
    name: `libvirt (${uri}, ${virtType})`,
    labels: { driver: "libvirt driver (remote protocol)", cli: "virsh" },
    async setup(prefix: string): Promise<{ driver: Steps; cli: Steps; cleanup: () => Promise<void> }> {
      const dir = join(tmpdir(), `omni-${prefix}`);
      await mkdir(dir, { recursive: true });
      const session = await new LibvirtDriver().connect({ endpoint: uri, libvirt: { virtType } }, undefined, AbortSignal.timeout(10_000));
      const identities = new Map<string, VmIdentity>();
      const id = (name: string): VmIdentity => {
        const known = identities.get(name) ?? { uid: randomUUID(), name, namespace: "bench", kubeName: name };
        identities.set(name, known);
        return known;
      };
      const driver: Steps = {
        define: async (name) => void (await session.createVm(id(name), spec)),
        start: (name) => session.setPower(id(name), { state: "Running" }),
        stop: (name) => session.setPower(id(name), { state: "Stopped", mode: "Hard" }),
        undefine: (name) => session.deleteVm(id(name)),
      };
      const virsh = async (...args: string[]): Promise<void> => void (await run("virsh", ["-q", "-c", uri, ...args]));
      const cli: Steps = {
        // What an admin's script does: make the disk as a volume of the same pool the driver
        // uses, write the XML the driver would, define it.
        define: async (name) => {
          const identity = id(name);
          const vol = `${identity.uid}-root.qcow2`;
          await virsh("vol-create-as", defaultPoolName, vol, "1G", "--format", "qcow2");
          const path = (await run("virsh", ["-q", "-c", uri, "vol-path", "--pool", defaultPoolName, vol])).stdout.trim();
          const xml = domainXml({ identity, virtType, cpus: 1, memoryMiB: 64, uuid: identity.uid, disks: [{ path, format: "qcow2" }], nics: [], consoleLog: `/var/log/libvirt/qemu/${name}-console.log` });
          await writeFile(join(dir, `${name}.xml`), xml);
          await virsh("define", join(dir, `${name}.xml`));
        },
        start: (name) => virsh("start", name),
        stop: (name) => virsh("destroy", name),
        undefine: async (name) => {
          await virsh("undefine", name, "--nvram");
          await virsh("vol-delete", "--pool", defaultPoolName, `${id(name).uid}-root.qcow2`);
          await rm(join(dir, `${name}.xml`), { force: true });
        },
      };
      const cleanup = async (): Promise<void> => {
        const names = (await run("virsh", ["-q", "-c", uri, "list", "--all", "--name"])).stdout.split("\n").filter((n) => n.startsWith(prefix));
        for (const n of names) {
          await virsh("destroy", n).catch(() => undefined);
          await virsh("undefine", n, "--nvram").catch(() => undefined);
        }
        await session.close();
        await rm(dir, { recursive: true, force: true });
      };
      return { driver, cli, cleanup };
    },
  };
}

/** Standalone: the same measurement bench/drivers.ts makes, for libvirt only. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { vms: { type: "string" }, uri: { type: "string" }, "virt-type": { type: "string" } } });
  const vms = Number(values.vms ?? 20);
  const bench = libvirtBench(values.uri, (values["virt-type"] ?? "qemu") as "qemu" | "kvm");
  const prefix = `bench-libvirt-${process.pid}`;
  const ways = await bench.setup(prefix);
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  try {
    for (const [label, steps] of [["driver", ways.driver], ["cli", ways.cli]] as const) {
      const names = Array.from({ length: vms }, (_, i) => `${prefix}-${label}-${String(i).padStart(2, "0")}`);
      let sequential = 0;
      for (const n of names) for (const p of phases) sequential += await time(() => steps[p](`${n}s`));
      let parallel = 0;
      for (const p of phases) parallel += await time(() => Promise.all(names.map((n) => steps[p](`${n}p`))));
      console.log(`${bench.name} ${label === "driver" ? bench.labels.driver : bench.labels.cli}: ${vms} VMs ${Math.round(sequential)} ms one after another, ${Math.round(parallel)} ms all at once`);
    }
  } finally {
    await ways.cleanup();
  }
}

if (import.meta.main) await main();
