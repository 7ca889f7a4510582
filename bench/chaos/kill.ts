// R1: kill -9 of the manager at a random point while it creates, resizes and deletes VMs on
// libvirt, Docker and ESXi, then a new manager and the time until the world converged. Trials
// cycle create → resize → delete, one VM per driver each cycle; each trial sends its step's
// requests, waits a random 0–killWindow ms (the manager acting meanwhile), kills it -9 and starts
// another; whether the work was still under way at the kill is read before the restart (nothing
// moves while no manager runs). Converged: created / resized VMs Ready at their generation, Running, exactly one
// hypervisor VM each with the spec's CPUs (or RestartRequired, where the driver resizes at the next stop); deleted VMs gone from the API and the hypervisors.
import { randomInt } from "node:crypto";
import { drivers, waitUntil, type Manager, type World } from "./world.ts";

export interface KillTrial {
  trial: number;
  step: "create" | "resize" | "delete";
  killAfterMs: number;
  /** The work was not finished when the kill came (read with the manager dead: nothing moves meanwhile). */
  midWork: boolean;
  convergedMs: number | null;
  duplicates: string[];
  orphans: string[];
  error?: string;
}

const steps = ["create", "resize", "delete"] as const;

/** Every VM of the run Ready at its generation, Running, found once with the spec's CPUs; none of `gone` left. */
async function converged(w: World, gone: Set<string>): Promise<true | undefined> {
  const vms = await w.vms();
  if (vms.some((v) => gone.has(v.name))) return undefined;
  const census = await w.census();
  if (census.duplicates.length > 0 || census.orphans.length > 0) return undefined;
  for (const v of vms) {
    const ready = v.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    if (!ready || v.status?.observedGeneration !== v.generation || v.status.powerState !== "Running") return undefined;
    const found = census.byUid.get(v.uid);
    // a driver that cannot resize a running VM says so (RestartRequired) and applies it at the next stop
    const restartRequired = v.status.conditions?.some((c) => c.type === "RestartRequired" && c.status === "True") ?? false;
    if (found?.length !== 1 || (Math.ceil(found[0]!.cpus) !== v.spec.cpus && !restartRequired)) return undefined;
  }
  return true;
}

export async function killTrials(w: World, trials: number, killWindowMs: number, step: (s: string) => void): Promise<{ trials: KillTrial[]; manager: Manager }> {
  let manager = w.startManager();
  await w.waitHostsReady(drivers.map((d) => `${w.ns}-${d}`));
  const out: KillTrial[] = [];
  for (let t = 0; t < trials; t++) {
    const kind = steps[t % 3]!;
    const cycle = Math.floor(t / 3);
    const names = drivers.map((d) => `r1-${cycle}-${d}`);
    const gone = new Set<string>();
    if (kind === "create") await w.apply(drivers.map((d, i) => w.vm(names[i]!, d)));
    else if (kind === "resize") await w.apply(drivers.map((d, i) => w.vm(names[i]!, d, 2, "192Mi")));
    else {
      await w.kubectl(["delete", "virtualmachines.omnivisor.io", ...names, "-n", w.ns, "--wait=false", "--ignore-not-found"]);
      for (const n of names) gone.add(n);
    }
    const killAfterMs = randomInt(0, killWindowMs + 1);
    await new Promise((r) => setTimeout(r, killAfterMs));
    await w.kill(manager);
    const midWork = (await converged(w, gone).catch(() => undefined)) === undefined;
    manager = w.startManager();
    const t0 = performance.now();
    const trial: KillTrial = { trial: t, step: kind, killAfterMs, midWork, convergedMs: null, duplicates: [], orphans: [] };
    try {
      await waitUntil(`trial ${t} (${kind}) converged`, () => converged(w, gone), 240_000, 250);
      trial.convergedMs = Math.round(performance.now() - t0);
    } catch (err) {
      trial.error = (err as Error).message;
    }
    const census = await w.census();
    trial.duplicates = census.duplicates;
    trial.orphans = census.orphans;
    out.push(trial);
    step(`R1 trial ${t + 1}/${trials}: ${kind}, kill -9 after ${killAfterMs} ms (${midWork ? "mid-work" : "work already done"}), converged in ${trial.convergedMs ?? "—"} ms, ${trial.duplicates.length} duplicates, ${trial.orphans.length} orphans${trial.error ? ` (${trial.error})` : ""}`);
  }
  return { trials: out, manager };
}
