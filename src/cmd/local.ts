// `make run`: Omnivisor on its embedded default — a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) with the Omnivisor CRDs installed, beside the local
// host services (libvirt, Docker, vcsim) that `make services` started. Ctrl-C stops it cleanly.
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlPlane } from "../local/control-plane.ts";
import { toolchain } from "../local/toolchain.ts";
import { LocalFleet, demoNamespace } from "./local-fleet.ts";

const usage = `Usage: node src/cmd/local.ts [--dir DIR] [--fresh | --reset] [--control-plane-only]

Starts a local Kubernetes control plane for Omnivisor on loopback, registers the local libvirtd
and dockerd as Hosts, runs the operator and the status watcher, applies sample VMs on the first
start, and keeps running until interrupted (Ctrl-C / SIGTERM). Its state (etcd, certificates) is
kept in DIR: the next start serves the same objects, and the VMs, which keep running on the
hypervisors while it is stopped, are picked up again, never recreated.

  --dir DIR              working directory (certificates, etcd data, logs, kubeconfigs);
                         default ~/.cache/omnivisor/local, kept across starts
  --fresh                start from an empty control plane (DIR wiped). VMs an earlier run made
                         are left alone on the hypervisors and show as orphaned on their Host
                         (status.orphanedVms): adopt them or delete them on the hypervisor
  --reset                delete every VirtualMachine and VApp through the operator (their VMs
                         leave the hypervisors), wipe DIR, and exit (make run-reset)
  --control-plane-only   only the control plane (no Hosts, operator or sample VMs)
  --help                 this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: "string" }, fresh: { type: "boolean" }, reset: { type: "boolean" }, "control-plane-only": { type: "boolean" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  if (values.fresh && values.reset) throw new Error("--fresh and --reset exclude each other");
  const tools = toolchain();
  const dir = values.dir ?? join(tools.cache, "local");
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  if (values.reset) return reset(dir, tools, say);
  if (values.fresh) await rm(dir, { recursive: true, force: true });
  const firstStart = !existsSync(join(dir, "etcd"));
  // --fresh leaves the earlier run's VMs on the hypervisors: samples made again would clash with them by name
  const samples = firstStart && !values.fresh;
  say(`starting the local control plane (etcd, kube-apiserver, kube-controller-manager)${firstStart ? "" : `, with the state kept in ${dir}`}…`);
  const started = Date.now();
  const cp = await ControlPlane.start({ dir, log: (l) => say(`  ${l}`) });
  let accelerator = "unknown";
  try {
    accelerator = readFileSync(join(tools.cache, "services", "libvirt-accel"), "utf8").trim();
  } catch {
    /* host-services.sh writes it */
  }
  say(`
Omnivisor local control plane is up (Kubernetes v${tools.kubeVersion}, ${((Date.now() - started) / 1000).toFixed(1)} s)

  export KUBECONFIG=${cp.kubeconfigs.admin}
  alias kubectl=${tools.kubectl}
  kubectl get ns
  kubectl get crd

  API server       ${cp.server}
  operator login   ${cp.kubeconfigs.operator}
  logs             ${join(cp.dir, "logs")}
  libvirt          qemu:///system (${accelerator})
  docker           unix:///var/run/docker.sock (image busybox:local)
  ESXi simulator   https://127.0.0.1:8989/sdk (vcsim)

Ctrl-C stops everything (host services keep running; \`make services-stop\` stops them).
READY kubeconfig=${cp.kubeconfigs.admin}`);

  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  const fleet = values["control-plane-only"] ? undefined : new LocalFleet(cp, tools, { samples });
  if (fleet) {
    // The control plane is usable already; the fleet comes up behind the READY line.
    const doing = samples ? "applying sample VMs" : values.fresh ? "no sample VMs (fresh start: an earlier run's VMs show as orphaned on their Host)" : "finding the VMs kept from the last run";
    void showFleet(fleet, doing, stop.signal, say).catch((err: unknown) => {
      if (!stop.signal.aborted) say(`the sample fleet did not come up: ${err instanceof Error ? err.message : String(err)} (logs: ${join(cp.dir, "logs")})`);
    });
  }
  await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
  say("stopping…");
  await fleet?.stop().catch((err: unknown) => say(`  stopping the operator: ${err instanceof Error ? err.message : String(err)}`));
  await cp.stop();
  say(`stopped. The VMs keep running on the hypervisors; \`make run\` again picks them up (state in ${dir}); \`make run-reset\` removes them and the state.`);
}

/** make run-reset: every VirtualMachine and VApp deleted through the operator, then the state. */
async function reset(dir: string, tools: ReturnType<typeof toolchain>, say: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, "etcd"))) {
    say(`deleting every VirtualMachine and VApp kept in ${dir} (their VMs leave the hypervisors)…`);
    const cp = await ControlPlane.start({ dir });
    const fleet = new LocalFleet(cp, tools, { samples: false });
    try {
      await fleet.start();
      await fleet.deleteAllVms();
    } finally {
      await fleet.stop();
      await cp.stop();
    }
  }
  await rm(dir, { recursive: true, force: true });
  say("reset: no VMs and no state left (VMs that were already orphaned stay on their hypervisors).");
}

async function showFleet(fleet: LocalFleet, doing: string, signal: AbortSignal, say: (line: string) => void): Promise<void> {
  say(`\nregistering the local libvirt and Docker hosts, starting the operator and status watcher, ${doing}…`);
  await fleet.start();
  const started = Date.now();
  const moving = await fleet.waitSettled(signal);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  const head = moving.length === 0 ? `every VM is where its spec says after ${took} s` : `still settling after ${took} s (${moving.slice(0, 3).join("; ")})`;
  say(`\n${head} (sample VMs in namespace ${demoNamespace}):\n\n$ kubectl get omnivisor -A\n${await fleet.table()}`);
  say(`Try: kubectl -n ${demoNamespace} patch ovm box-1 --type merge -p '{"spec":{"powerState":"Stopped"}}'`);
  say("RUNNING");
}

main().catch((err: unknown) => {
  process.stderr.write(`omnivisor local: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
