// `make run`: Omnivisor on its embedded default — a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) with the Omnivisor CRDs installed, beside the local
// host services (libvirt, Docker, vcsim) that `make services` started. Ctrl-C stops it cleanly.
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlPlane } from "../local/control-plane.ts";
import { toolchain } from "../local/toolchain.ts";

const usage = `Usage: node src/cmd/local.ts [--dir DIR]

Starts a local Kubernetes control plane for Omnivisor on loopback and keeps it running
until interrupted (Ctrl-C / SIGTERM).

  --dir DIR   working directory (certificates, etcd data, logs, kubeconfigs);
              default ~/.cache/omnivisor/local, wiped at start
  --help      this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: "string" }, help: { type: "boolean" } } });
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

Ctrl-C stops the control plane (host services keep running; \`make services-stop\` stops them).
READY kubeconfig=${cp.kubeconfigs.admin}`);

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  say("stopping…");
  await cp.stop();
  say("stopped.");
}

main().catch((err: unknown) => {
  process.stderr.write(`omnivisor local: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
