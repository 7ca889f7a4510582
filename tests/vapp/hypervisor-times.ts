// When the hypervisors themselves say a VM came to exist, started and stopped: Docker's own
// container record (Created, State.StartedAt, State.FinishedAt), and libvirt's — the birth of the
// domain's persistent definition (/etc/libvirt/qemu/<name>.xml, written at define) and the
// "starting up" / "shutting down" lines libvirt writes with their time to the domain's log. The
// scenarios judge order and delays from these, not from when the test happened to look.
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { dockerSocket } from "../harness/services.ts";

const run = promisify(execFile);

export interface HypervisorTimes {
  /** When the VM came to exist on its hypervisor (ms since the epoch). */
  existsSince: number;
  /** Every start, oldest first. */
  starts: number[];
  /** Every stop, oldest first. */
  stops: number[];
}

const never = (t: string): boolean => t.startsWith("0001-01-01");

export async function dockerTimes(name: string): Promise<HypervisorTimes> {
  const { stdout } = await run("docker", ["-H", `unix://${dockerSocket}`, "inspect", "--format", "{{.Created}} {{.State.StartedAt}} {{.State.FinishedAt}}", name]);
  const [created, started, finished] = stdout.trim().split(" ") as [string, string, string];
  // Docker keeps the last start and the last stop only
  return { existsSince: Date.parse(created), starts: never(started) ? [] : [Date.parse(started)], stops: never(finished) ? [] : [Date.parse(finished)] };
}

const logTime = (line: string): number => Date.parse(line.slice(0, 28).replace(" ", "T").replace("+0000", "Z"));

export async function libvirtTimes(name: string): Promise<HypervisorTimes> {
  const definition = await stat(`/etc/libvirt/qemu/${name}.xml`);
  const log = await readFile(`/var/log/libvirt/qemu/${name}.log`, "utf8").catch(() => "");
  const lines = log.split("\n");
  return {
    existsSince: definition.birthtimeMs || definition.mtimeMs,
    starts: lines.filter((l) => /^\d{4}-\d\d-\d\d .*: starting up/.test(l)).map(logTime),
    stops: lines.filter((l) => /^\d{4}-\d\d-\d\d .*: shutting down/.test(l)).map(logTime),
  };
}
