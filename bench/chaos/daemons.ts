// R3: the hypervisor's daemon restarted mid-create — a private dockerd and a private libvirtd (the
// shared ones run everyone's VMs). Per daemon, 3 rounds: 5 VMs applied at once, a random 0–1 s after
// the apply started the daemon is killed -9 and started again on the same state. Then: every VM Ready and found exactly once on
// that daemon (lost: a VirtualMachine with no VM there; doubled: a uid held twice).
import { randomInt } from "node:crypto";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { imageUpload } from "../../tests/harness/image-upload.ts";
import { PrivateDockerd } from "../../tests/harness/private-dockerd.ts";
import { startPrivateLibvirtd } from "../../tests/harness/private-libvirtd.ts";
import { tinyVmImage } from "../../tests/harness/services.ts";
import { sleep, waitUntil, type Target, type World } from "./world.ts";

export interface DaemonRestart {
  daemon: string;
  vms: number;
  /** The kill came this long after the VMs were applied. */
  killAfterMs: number;
  onDaemonAtRestart: number;
  lost: number;
  doubled: number;
  convergedMs: number | null;
  /** VMs not Ready at the end, with what their Ready condition says. */
  stuck: string[];
  error?: string;
}

const perDaemon = 5;
const rounds = 3;

interface Round {
  daemon: string;
  target: Target;
  round: number;
  restart: () => Promise<void>;
}

async function restartMidCreate(w: World, { daemon, target, round, restart }: Round, step: (s: string) => void): Promise<DaemonRestart> {
  const hostName = `${w.ns}-${target.driver}`;
  const names = Array.from({ length: perDaemon }, (_, i) => `r3-${target.driver}-${round}-${i}`);
  const killAfterMs = randomInt(0, 1001);
  const out: DaemonRestart = { daemon, vms: perDaemon, killAfterMs, onDaemonAtRestart: 0, lost: 0, doubled: 0, convergedMs: null, stuck: [] };
  const onDaemon = async (): Promise<number> => (await w.hypervisorVms(target)).filter((v) => names.some((n) => v.name === `${w.ns}.${n}`)).length;
  await w.waitHostsReady([hostName]);
  await onDaemon(); // the census's session to the daemon open beforehand: the count at the kill is read quickly
  // the kill is timed from the apply's start: the manager acts while kubectl is still exiting
  const applied = w.apply(names.map((n) => w.vm(n, target.driver)));
  await sleep(killAfterMs);
  out.onDaemonAtRestart = await onDaemon().catch(() => 0);
  await restart();
  await applied;
  await w.forget(target);
  const t0 = performance.now();
  try {
    await waitUntil(`${daemon}: ${perDaemon} VMs Ready once each`, async () => {
      const vms = (await w.vms()).filter((v) => names.includes(v.name));
      const census = await w.census();
      return vms.length === perDaemon && vms.every((v) => v.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && census.byUid.get(v.uid)?.length === 1) ? true : undefined;
    }, 240_000, 500);
    out.convergedMs = Math.round(performance.now() - t0);
  } catch (err) {
    out.error = (err as Error).message;
  }
  const vms = (await w.vms()).filter((v) => names.includes(v.name));
  const census = await w.census();
  out.lost = vms.filter((v) => (census.byUid.get(v.uid)?.length ?? 0) === 0).length;
  out.doubled = vms.filter((v) => (census.byUid.get(v.uid)?.length ?? 0) > 1).length;
  out.stuck = vms.flatMap((v) => {
    const ready = v.status?.conditions?.find((c) => c.type === "Ready");
    return ready?.status === "True" ? [] : [`${v.name}: Ready=${ready?.status ?? "unset"} ${ready?.reason ?? ""}: ${(ready?.message ?? "").slice(0, 200)}`];
  });
  step(`R3 ${daemon} killed after ${killAfterMs} ms with ${out.onDaemonAtRestart}/${perDaemon} made: ${out.lost} lost, ${out.doubled} doubled, converged ${out.convergedMs ?? "—"} ms after`);
  // a VM stuck on the daemon may not go either: the round's figures stay, the run goes on
  await w.kubectl(["delete", "virtualmachines.omnivisor.io", ...names, "-n", w.ns, "--wait=true", "--timeout=120s"]).catch((err: Error) => {
    out.error = `${out.error ? `${out.error}; ` : ""}delete: ${err.message.slice(0, 300)}`;
  });
  return out;
}

export async function daemonRestarts(w: World, step: (s: string) => void): Promise<DaemonRestart[]> {
  const dockerd = await PrivateDockerd.start();
  const libvirtd = await startPrivateLibvirtd(`chaos-${w.id}`);
  const manager = w.startManager();
  const out: DaemonRestart[] = [];
  try {
    // the private libvirtd gets the tiny VM image as make services puts it on the shared one
    const session = (await new LibvirtDriver().connect({ endpoint: libvirtd.uri }, undefined, AbortSignal.timeout(30_000))) as LibvirtSession;
    await session.uploadImage("tiny-vm", await imageUpload(tinyVmImage()));
    await session.close();
    const dockerTarget: Target = { driver: "docker-private", connection: { endpoint: dockerd.endpoint } };
    const libvirtTarget: Target = { driver: "libvirt-private", connection: { endpoint: libvirtd.uri } };
    w.targets.push(dockerTarget, libvirtTarget);
    await w.apply([
      w.host("docker-private", "docker", { endpoint: dockerd.endpoint }),
      w.host("libvirt-private", "libvirt", { endpoint: libvirtd.uri }, { "libvirt.omnivisor.io/virt-type": "qemu" }),
    ]);
    for (let round = 0; round < rounds; round++) {
      const restart = async (): Promise<void> => {
        await dockerd.crash();
        await dockerd.restart();
      };
      out.push(await restartMidCreate(w, { daemon: "dockerd", target: dockerTarget, round, restart }, step));
    }
    for (let round = 0; round < rounds; round++) {
      const restart = async (): Promise<void> => {
        await libvirtd.kill();
        await libvirtd.restart();
      };
      out.push(await restartMidCreate(w, { daemon: "libvirtd", target: libvirtTarget, round, restart }, step));
    }
    await w.kubectl(["delete", "hosts.omnivisor.io", `${w.ns}-docker-private`, `${w.ns}-libvirt-private`, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  } finally {
    await w.kill(manager, "SIGTERM");
    for (const t of w.targets.filter((t) => t.driver.endsWith("-private"))) await w.forget(t);
    w.targets.splice(0, w.targets.length, ...w.targets.filter((t) => !t.driver.endsWith("-private")));
    await dockerd.stop().catch(() => undefined);
    await libvirtd.stop().catch(() => undefined);
  }
  return out;
}
