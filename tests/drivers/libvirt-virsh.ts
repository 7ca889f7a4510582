// libvirt's own CLI, for conformance hooks and the benchmark: acts on a host outside the driver.
import { execFile } from "node:child_process";
import { readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PowerState } from "../../drivers/contract/index.ts";

const run = promisify(execFile);

export class Virsh {
  readonly uri: string;
  constructor(uri: string) {
    this.uri = uri;
  }

  async exec(...args: string[]): Promise<string> {
    const { stdout } = await run("virsh", ["-q", "-c", this.uri, ...args]);
    return stdout.trim();
  }

  /** Runs several virsh commands in one connection (`virsh "a; b; c"`), as a person would script it. */
  async batch(commands: string[]): Promise<string> {
    return this.exec(commands.join("; "));
  }

  async tolerant(...args: string[]): Promise<void> {
    await this.exec(...args).catch(() => undefined);
  }

  /** Defines and starts a small diskless TCG domain with no Omnivisor metadata; returns its UUID. */
  async runUnmanaged(name: string): Promise<string> {
    const file = join(tmpdir(), `${name}.xml`);
    await writeFile(file, unmanagedXml(name));
    try {
      await this.exec("define", file);
      await this.exec("start", name);
    } finally {
      await rm(file, { force: true });
    }
    return this.exec("domuuid", name);
  }

  async state(id: string): Promise<string> {
    return this.exec("domstate", id);
  }

  async setPower(id: string, state: PowerState): Promise<void> {
    const now = await this.state(id);
    if (state === "Stopped") await this.exec("destroy", id);
    else if (state === "Paused") await this.exec("suspend", id);
    else if (now === "paused") await this.exec("resume", id);
    else await this.exec("start", id);
  }

  /**
   * Deletes a domain as an admin would: with its storage volumes (the overlay in our pool; never
   * its backing image). The test driver's disks are in no pool, so there only the domain goes.
   */
  async remove(id: string): Promise<void> {
    await this.tolerant("destroy", id);
    await this.tolerant("undefine", id, ...(this.uri.startsWith("test") ? [] : ["--remove-all-storage"]));
  }

  /**
   * Removes every domain whose name starts with prefix, their volumes in the pool "omnivisor"
   * (named by the domain's UUID, which is the VM's uid) and their files in diskDir.
   */
  async removePrefixed(prefix: string, diskDir?: string): Promise<void> {
    const names = (await this.exec("list", "--all", "--name")).split("\n").filter((n) => n.startsWith(prefix));
    const uids = await Promise.all(names.map(async (n) => (await this.exec("domuuid", n).catch(() => "")).trim()));
    for (const name of names) await this.remove(name);
    const volumes = (await this.exec("vol-list", "omnivisor").catch(() => "")).split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "");
    for (const vol of volumes.filter((v) => uids.some((u) => u && v.startsWith(`${u}-`)))) await this.tolerant("vol-delete", "--pool", "omnivisor", vol);
    if (!diskDir) return;
    const files = await readdir(diskDir).catch(() => [] as string[]);
    await Promise.all(files.filter((f) => f.startsWith(prefix)).map((f) => rm(join(diskDir, f), { force: true })));
  }
}

export function unmanagedXml(name: string): string {
  return `<domain type="qemu"><name>${name}</name><memory unit="MiB">32</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os><devices><memballoon model="none"/></devices></domain>`;
}
