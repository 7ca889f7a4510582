// Two managers forced to lead at once (--no-leader-elect in both, as two replicas that both
// believe they hold the Lease): 3 rounds of 20 VMs over libvirt, Docker and ESXi; each VM must exist once.
// Then both delete them: nothing may be left behind.
import { drivers, waitUntil, type World } from "./world.ts";

export interface TwoLeaders {
  rounds: number;
  /** Over all rounds. */
  vms: number;
  /** The slowest round's. */
  allReadyMs: number | null;
  duplicates: string[];
  orphansAfterDelete: string[];
  error?: string;
}

/** Rounds of 20 VMs each: whether two writers collide is a race, one round says little. */
const rounds = 3;

export async function twoLeaders(w: World, step: (s: string) => void): Promise<TwoLeaders> {
  const a = w.startManager();
  const b = w.startManager();
  const spread: Record<(typeof drivers)[number], number> = { libvirt: 6, docker: 8, esxi: 6 };
  const out: TwoLeaders = { rounds, vms: 0, allReadyMs: null, duplicates: [], orphansAfterDelete: [] };
  try {
    await w.waitHostsReady(drivers.map((d) => `${w.ns}-${d}`));
    for (let round = 0; round < rounds; round++) {
      const prefix = `two-${round}-`;
      const names = drivers.flatMap((d) => Array.from({ length: spread[d] }, (_, i) => ({ name: `${prefix}${d}-${i}`, driver: d })));
      out.vms += names.length;
      const t0 = performance.now();
      await w.apply(names.map((n) => w.vm(n.name, n.driver)));
      try {
        await waitUntil(`round ${round}: ${names.length} VMs Ready under two leaders`, async () => {
          const vms = (await w.vms()).filter((v) => v.name.startsWith(prefix));
          return vms.length === names.length && vms.every((v) => v.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ? true : undefined;
        }, 300_000, 500);
        out.allReadyMs = Math.max(out.allReadyMs ?? 0, Math.round(performance.now() - t0));
      } catch (err) {
        out.error = (err as Error).message;
      }
      // both keep reconciling a while: a late second create would show now
      await new Promise((r) => setTimeout(r, 5_000));
      const duplicates = (await w.census()).duplicates;
      out.duplicates.push(...duplicates);
      await w.kubectl(["delete", "virtualmachines.omnivisor.io", ...names.map((n) => n.name), "-n", w.ns, "--wait=true", "--timeout=180s"]);
      const orphans = (await w.census()).orphans.filter((o) => !out.orphansAfterDelete.includes(o));
      out.orphansAfterDelete.push(...orphans);
      step(`two leaders, round ${round + 1}/${rounds}: ${names.length} VMs, ${duplicates.length} duplicates; deleted, ${orphans.length} orphans`);
    }
  } finally {
    await w.kill(a, "SIGTERM");
    await w.kill(b, "SIGTERM");
  }
  return out;
}
