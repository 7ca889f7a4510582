// `make run`: Omnivisor on its embedded default — a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) with the Omnivisor CRDs installed, beside the local
// host services (libvirt, Docker, vcsim) that `make services` started. Ctrl-C stops it cleanly.
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlPlane } from "../local/control-plane.ts";
import { toolchain } from "../local/toolchain.ts";
import { LocalFleet, demoNamespace } from "./local-fleet.ts";

const usage = `Usage: node src/cmd/local.ts [--dir DIR] [--control-plane-only]

Starts a local Kubernetes control plane for Omnivisor on loopback, registers the local libvirtd
and dockerd as Hosts, runs the operator and the status watcher, applies sample VMs, and keeps
running until interrupted (Ctrl-C / SIGTERM), then removes the sample VMs and stops everything.

  --dir DIR              working directory (certificates, etcd data, logs, kubeconfigs);
                         default ~/.cache/omnivisor/local, wiped at start
  --control-plane-only   only the control plane (no Hosts, operator or sample VMs)
  --help                 this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: "string" }, "control-plane-only": { type: "boolean" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const tools = toolchain();
  const dir = values.dir ?? join(tools.cache, "local");
  await rm(dir, { recursive: true, force: true });
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say("starting the local control plane (etcd, kube-apiserver, kube-controller-manager)…");
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
  const fleet = values["control-plane-only"] ? undefined : new LocalFleet(cp, tools);
  if (fleet) {
    // The control plane is usable already; the fleet comes up behind the READY line.
    void showFleet(fleet, stop.signal, say).catch((err: unknown) => {
      if (!stop.signal.aborted) say(`the sample fleet did not come up: ${err instanceof Error ? err.message : String(err)} (logs: ${join(cp.dir, "logs")})`);
    });
  }
  await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
  say("stopping…");
  await fleet?.stop().catch((err: unknown) => say(`  stopping the operator: ${err instanceof Error ? err.message : String(err)}`));
  await cp.stop();
  say("stopped.");
}

async function showFleet(fleet: LocalFleet, signal: AbortSignal, say: (line: string) => void): Promise<void> {
  say("\nregistering the local libvirt and Docker hosts, starting the operator and status watcher, applying sample VMs…");
  await fleet.start();
  const started = Date.now();
  await fleet.waitRunning(signal);
  say(`\nsample VMs Running in namespace ${demoNamespace} after ${((Date.now() - started) / 1000).toFixed(1)} s:\n\n$ kubectl get omnivisor -A\n${await fleet.table()}`);
  say("Try: kubectl -n omnivisor-demo patch ovm box-1 --type merge -p '{\"spec\":{\"powerState\":\"Stopped\"}}'");
  say("RUNNING");
}

main().catch((err: unknown) => {
  process.stderr.write(`omnivisor local: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
