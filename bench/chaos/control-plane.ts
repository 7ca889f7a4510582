// R2: the control plane fails under the manager — the API server restarted, etcd restarted, and
// the manager's connections to the API server cut mid-watch (a TCP proxy between them, closed
// 3 s) — while spec changes keep coming (CPUs of Docker VMs toggled 1 ↔ 2 every 250 ms, through
// the admin identity, retried while the API server is away). Every change the API server accepted
// ("applied") must reach status: the VM's status.observedGeneration at least the change's
// generation and the container's CPUs the last value written ("seen"). 410 Gone comes with the API
// server restart: its new watch cache starts at etcd's current revision, so every watch the
// manager resumes from an older one is told 410 and relists (counted from the manager's log).
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { proxyFor } from "../../tests/harness/socket-proxy.ts";
import { sleep, waitUntil, type World } from "./world.ts";

export interface Disruption {
  fault: string;
  applied: number;
  seen: number;
  /** Patches refused while the API server was away (retried with the next change). */
  refused: number;
  /** From the fault's end until every change was seen. */
  convergedMs: number | null;
  /** The manager's watches that came back with 410 Gone and relisted (from its log) — the 410 case of R2. */
  goneRelists: number;
  error?: string;
}

const vmCount = 4;

export async function controlPlaneFaults(w: World, step: (s: string) => void): Promise<Disruption[]> {
  const proxy = await proxyFor(w.cp.server);
  const kubeconfig = join(w.cp.dir, "operator-through-proxy.kubeconfig");
  const original = await readFile(w.cp.kubeconfigs.operator, "utf8");
  await writeFile(kubeconfig, original.split(w.cp.server).join(proxy.through(w.cp.server).replace(/\/$/, "")));
  const manager = w.startManager([], kubeconfig);
  const names = Array.from({ length: vmCount }, (_, i) => `r2-${i}`);
  const out: Disruption[] = [];
  try {
    await w.waitHostsReady([`${w.ns}-docker`]);
    await w.apply(names.map((n) => w.vm(n, "docker")));
    await waitUntil("R2 VMs Ready", async () => {
      const vms = (await w.vms()).filter((v) => names.includes(v.name));
      return vms.length === vmCount && vms.every((v) => v.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ? true : undefined;
    }, 120_000);
    const faults: [string, () => Promise<void>][] = [
      ["API server restart", () => w.cp.restartApiServer()],
      ["etcd restart", () => w.cp.restartEtcd()],
      ["manager's watches cut mid-stream (3 s)", async () => {
        proxy.sever();
        await sleep(3_000);
        proxy.restore();
      }],
    ];
    for (const [fault, act] of faults) {
      const d: Disruption = { fault, applied: 0, seen: 0, refused: 0, convergedMs: null, goneRelists: 0 };
      const logFrom = (await stat(w.log)).size;
      const last = new Map<string, { generation: number; cpus: number }>();
      const applied: { name: string; generation: number }[] = [];
      let changing = true;
      let n = 0;
      const changer = (async () => {
        while (changing) {
          const name = names[n % vmCount]!;
          const cpus = (last.get(name)?.cpus ?? 1) === 1 ? 2 : 1;
          n++;
          try {
            const gen = Number(await w.kubectl(["patch", "virtualmachines.omnivisor.io", name, "-n", w.ns, "--type", "merge", "-p", JSON.stringify({ spec: { cpus } }), "-o", "jsonpath={.metadata.generation}", "--request-timeout=5s"]));
            last.set(name, { generation: gen, cpus });
            applied.push({ name, generation: gen });
          } catch {
            d.refused++;
          }
          await sleep(250);
        }
      })();
      await sleep(2_000);
      await act();
      await sleep(3_000);
      changing = false;
      await changer;
      const t0 = performance.now();
      d.applied = applied.length;
      try {
        await waitUntil(`${fault}: every change in status`, async () => {
          const vms = await w.vms();
          const census = await w.census();
          for (const [name, want] of last) {
            const v = vms.find((x) => x.name === name);
            const found = v ? census.byUid.get(v.uid) : undefined;
            const restartRequired = v?.status?.conditions?.some((c) => c.type === "RestartRequired" && c.status === "True") ?? false;
            if (!v || (v.status?.observedGeneration ?? 0) < want.generation || found?.length !== 1 || (Math.ceil(found[0]!.cpus) !== want.cpus && !restartRequired)) return undefined;
          }
          return true;
        }, 120_000, 500);
        d.convergedMs = Math.round(performance.now() - t0);
      } catch (err) {
        d.error = (err as Error).message;
      }
      const vms = await w.vms();
      d.seen = applied.filter((c) => (vms.find((v) => v.name === c.name)?.status?.observedGeneration ?? 0) >= c.generation).length;
      d.goneRelists = (await readFile(w.log)).subarray(logFrom).toString("utf8").split("\n").filter((l) => l.includes("watch expired (410 Gone)")).length;
      out.push(d);
      step(`R2 ${fault}: ${d.applied} changes applied, ${d.seen} seen in status, ${d.refused} refused meanwhile, ${d.goneRelists} watches relisted after 410 Gone, converged ${d.convergedMs ?? "—"} ms after`);
    }
    await w.kubectl(["delete", "virtualmachines.omnivisor.io", ...names, "-n", w.ns, "--wait=true", "--timeout=120s"]);
  } finally {
    await w.kill(manager, "SIGTERM");
    await proxy.dispose();
  }
  return out;
}
