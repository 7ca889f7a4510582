// Two managers forced to lead at once (--no-leader-elect in both, as two replicas that both
// believe they hold the Lease): 20 VMs over libvirt, Docker and ESXi; each VM must exist once.
// Then both delete them: nothing may be left behind.
import { drivers, waitUntil, type World } from "./world.ts";

export interface TwoLeaders {
  vms: number;
  allReadyMs: number | null;
  duplicates: string[];
  orphansAfterDelete: string[];
  error?: string;
}

export async function twoLeaders(w: World, step: (s: string) => void): Promise<TwoLeaders> {
  const a = w.startManager();
  const b = w.startManager();
  const spread: Record<(typeof drivers)[number], number> = { libvirt: 6, docker: 8, esxi: 6 };
  const names = drivers.flatMap((d) => Array.from({ length: spread[d] }, (_, i) => ({ name: `two-${d}-${i}`, driver: d })));
  const out: TwoLeaders = { vms: names.length, allReadyMs: null, duplicates: [], orphansAfterDelete: [] };
  try {
    await w.waitHostsReady(drivers.map((d) => `${w.ns}-${d}`));
    const t0 = performance.now();
    await w.apply(names.map((n) => w.vm(n.name, n.driver)));
    try {
      await waitUntil("20 VMs Ready under two leaders", async () => {
        const vms = (await w.vms()).filter((v) => v.name.startsWith("two-"));
        return vms.length === names.length && vms.every((v) => v.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ? true : undefined;
      }, 300_000, 500);
      out.allReadyMs = Math.round(performance.now() - t0);
    } catch (err) {
      out.error = (err as Error).message;
    }
    // both keep reconciling a while: a late second create would show now
    await new Promise((r) => setTimeout(r, 5_000));
    out.duplicates = (await w.census()).duplicates;
    step(`two leaders: ${names.length} VMs Ready in ${out.allReadyMs ?? "—"} ms, ${out.duplicates.length} duplicates`);
    await w.kubectl(["delete", "virtualmachines.omnivisor.io", ...names.map((n) => n.name), "-n", w.ns, "--wait=true", "--timeout=180s"]);
    out.orphansAfterDelete = (await w.census()).orphans;
    step(`two leaders: deleted, ${out.orphansAfterDelete.length} orphans`);
  } finally {
    await w.kill(a, "SIGTERM");
    await w.kill(b, "SIGTERM");
  }
  return out;
}
