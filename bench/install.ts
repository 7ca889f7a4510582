// The Helm install on a real one-node cluster, timed (issue #25): helm install → both managers
// Ready and one leading; then, each time measuring until a VM created right after is Running:
// the leader's process crashing (SIGKILL; restarted in its pod), the leader's pod killed (SIGKILL
// and force-deleted: the standby must wait out the Lease) and deleted (SIGTERM: the leader
// releases the Lease). Targets: reconcile within 15 s after a kill, hand-over ≤ 2 s. Also counts
// the writes to VirtualMachines during a `helm upgrade` (target 0).
//
// The node: tests/harness/test-node.ts (kubelet + containerd, no traffic off the machine); the
// image: `make image`, imported; the hypervisors: this machine's libvirtd and dockerd, reached
// from pods on the cni0 bridge address. Docker VMs (busybox) keep the reconcile cheap.
//
// Usage: node bench/install.ts [--trials 3] [--json FILE] [--markdown FILE]
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { waitFor } from "../src/local/wait.ts";
import { startTestNode } from "../tests/harness/test-node.ts";
import { ListWatch } from "../tests/harness/watch.ts";
import { removeLeftovers } from "../tests/lifecycle/fixtures.ts";
import { SocketForward, bridgeAddress, buildImage, dockerSocket, dockerVm, fleet, helm, helmInstall, kubectlOn, leaseHolder, libvirtSocket, podProcess, pods } from "../tests/cluster/install-fixtures.ts";
import { factsMarkdown, runFacts } from "./run-facts.ts";

const { values } = parseArgs({ options: { trials: { type: "string", default: "3" }, json: { type: "string" }, markdown: { type: "string" } } });
const trials = Number(values.trials);
const facts = runFacts();
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const release = "omnivisor";
const system = "omnivisor-system";
const lease = `${release}-manager`;
const ns = "bench-install";
const prefix = "bench-install";
const seconds = (ms: number): number => Math.round(ms / 10) / 100;

say(`install benchmark: helm install, ${trials} failovers (SIGKILL) and ${trials} hand-overs (pod deleted) on a one-node cluster\n${factsMarkdown(facts)}`);
const image = await buildImage();
const imageBytes = Number(
  (await import("node:child_process")).execFileSync("docker", ["image", "inspect", image.tag, "--format", "{{.Size}}"], { encoding: "utf8" }).trim(),
);
await removeLeftovers(`${ns}.`);
const node = await startTestNode();
const kubectl = kubectlOn(node.kubeconfig);
const forwards: SocketForward[] = [];
try {
  await node.importImage(image.tar);
  await kubectl(["label", "node", node.nodeName, "omnivisor.io/hypervisor=true", "--overwrite"]);
  const gateway = bridgeAddress();
  const libvirt = await SocketForward.start(gateway, libvirtSocket);
  const docker = await SocketForward.start(gateway, dockerSocket);
  forwards.push(libvirt, docker);
  await kubectl(["create", "namespace", ns]);
  const endpoints = { libvirt: `qemu+tcp://${gateway}:${libvirt.port}/system`, docker: `tcp://${gateway}:${docker.port}` };
  const set = { "statusWatcher.socketGroups[0]": String(statSync(dockerSocket).gid) };
  const managers = async (): Promise<string[]> => (await pods(node.kubeconfig, system, "manager")).filter((p) => !p.deleting).map((p) => p.name);
  const holder = (): Promise<string | undefined> => leaseHolder(node.kubeconfig, system, lease);
  const twoReady = (): Promise<true> =>
    waitFor("two Ready managers", async () => ((await pods(node.kubeconfig, system, "manager")).filter((p) => p.ready && !p.deleting).length === 2 ? true : undefined), { timeoutMs: 180_000, intervalMs: 200 });
  const applyVm = (name: string): Promise<boolean> =>
    waitFor(`${name} accepted`, () => kubectl(["apply", "-f", "-"], stringify(dockerVm(name, ns, `${prefix}-docker`))).then(() => true), { timeoutMs: 60_000, intervalMs: 100 });
  const reconciled = (name: string): Promise<true> =>
    waitFor(`${name} Running`, async () => ((await kubectl(["get", "virtualmachines.omnivisor.io", name, "-n", ns, "-o", "jsonpath={.status.phase}"])).trim() === "Running" ? true : undefined), { timeoutMs: 120_000, intervalMs: 100 });

  // helm install → Ready
  const started = Date.now();
  await helmInstall("install", { kubeconfig: node.kubeconfig, release, namespace: system, tag: image.tag, set });
  const helmMs = Date.now() - started;
  await twoReady();
  const readyMs = Date.now() - started;
  const first = await waitFor("a leader", async () => {
    const h = await holder();
    return h && (await managers()).includes(h) ? h : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  const leaderMs = Date.now() - started;
  say(`helm install --wait: ${seconds(helmMs)} s; both managers Ready: ${seconds(readyMs)} s; ${first} leads at ${seconds(leaderMs)} s`);
  await kubectl(["apply", "-f", "-"], fleet(prefix, node.nodeName, endpoints).map((o) => stringify(o)).join("---\n"));
  await applyVm("warm-up");
  await reconciled("warm-up");

  // crash: SIGKILL of the leader's process (the container restarts in its pod and, with the same
  // identity, leads again); kill: SIGKILL and the pod force-deleted (the standby waits out the
  // Lease); delete: the pod deleted (SIGTERM: the leader releases the Lease).
  type Kind = "crash" | "kill" | "delete";
  interface Trial { kind: Kind; takeoverMs: number | undefined; reconciledMs: number }
  const results: Trial[] = [];
  const kinds: Kind[] = ["crash", "kill", "delete"];
  for (let i = 0; i < trials * kinds.length; i++) {
    const kind = kinds[i % kinds.length]!;
    await twoReady();
    const before = await waitFor("a leader", async () => {
      const h = await holder();
      return h && (await managers()).includes(h) ? h : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const pid = kind === "delete" ? 0 : await podProcess(before);
    const t0 = Date.now();
    if (kind !== "delete") process.kill(pid, "SIGKILL");
    if (kind === "kill") await kubectl(["delete", "pod", "-n", system, before, "--grace-period=0", "--force", "--wait=false"]);
    if (kind === "delete") await kubectl(["delete", "pod", "-n", system, before, "--wait=false"]);
    const vm = `after-${kind}-${i}`;
    const created = applyVm(vm);
    const takeoverMs = kind === "crash"
      ? undefined
      : (await waitFor("a new leader", async () => {
          const h = await holder();
          return h && h !== before ? h : undefined;
        }, { timeoutMs: 90_000, intervalMs: 50 }), Date.now() - t0);
    await created;
    await reconciled(vm);
    const reconciledMs = Date.now() - t0;
    results.push({ kind, takeoverMs, reconciledMs });
    say(`${kind}: ${takeoverMs === undefined ? "" : `new leader after ${seconds(takeoverMs)} s, `}${vm} Running after ${seconds(reconciledMs)} s`);
  }

  // helm upgrade: writes to VirtualMachines
  await twoReady();
  await new Promise((r) => setTimeout(r, 5_000));
  const watch = new ListWatch(node.controlPlane.admin, `/apis/omnivisor.io/v1alpha1/namespaces/${ns}/virtualmachines`);
  await watch.start();
  const upgradeStarted = Date.now();
  await helmInstall("upgrade", { kubeconfig: node.kubeconfig, release, namespace: system, tag: image.tag, set: { ...set, logLevel: "debug" } });
  await twoReady();
  const upgradeMs = Date.now() - upgradeStarted;
  await new Promise((r) => setTimeout(r, 5_000));
  watch.stop();
  const upgradeWrites = watch.events.filter((e) => e.type !== "ADDED").length;
  say(`helm upgrade (logLevel changed): rolled in ${seconds(upgradeMs)} s, ${upgradeWrites} writes to VirtualMachines`);

  await kubectl(["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=120s"]);
  await helm(["uninstall", release, "--kubeconfig", node.kubeconfig, "-n", system, "--wait"]);

  const of = (kind: Kind, key: "takeoverMs" | "reconciledMs"): number[] => results.filter((r) => r.kind === kind).map((r) => r[key] ?? Number.NaN);
  const row = (xs: number[]): string => `${seconds(Math.min(...xs))} / ${seconds(xs.reduce((a, b) => a + b, 0) / xs.length)} / ${seconds(Math.max(...xs))}`;
  const summary = {
    facts,
    imageBytes,
    install: { helmWaitMs: helmMs, bothReadyMs: readyMs, leaderMs },
    trials: results,
    upgrade: { rolledMs: upgradeMs, vmWrites: upgradeWrites },
    targets: { failoverReconcileMs: 15_000, gracefulHandoverMs: 2_000, upgradeVmWrites: 0 },
  };
  const markdown = [
    "# Helm install on a one-node cluster",
    "",
    `Written by \`node bench/install.ts\` (\`make bench-install\`), ${trials} trials each. Leader election: lease 10 s, renew deadline 7 s, retry 2 s (the chart's defaults).`,
    "",
    factsMarkdown(facts),
    "",
    "| measure | min / mean / max | target |",
    "| --- | --- | --- |",
    `| operator image (docker image size) | ${Math.round(imageBytes / 1024 / 1024)} MiB | |`,
    `| helm install --wait | ${seconds(helmMs)} s | |`,
    `| helm install → both managers Ready | ${seconds(readyMs)} s | |`,
    `| helm install → a leader | ${seconds(leaderMs)} s | |`,
    `| leader's process crashes (SIGKILL) → VM created meanwhile Running (restarted, leads again) | ${row(of("crash", "reconciledMs"))} s | |`,
    `| leader's pod killed (SIGKILL + force delete) → other one leads | ${row(of("kill", "takeoverMs"))} s | |`,
    `| leader's pod killed → VM created meanwhile Running | ${row(of("kill", "reconciledMs"))} s | ≤ 15 s |`,
    `| leader's pod deleted (graceful) → other one leads | ${row(of("delete", "takeoverMs"))} s | ≤ 2 s |`,
    `| leader's pod deleted → VM created meanwhile Running | ${row(of("delete", "reconciledMs"))} s | |`,
    `| helm upgrade (a value changed) → managers rolled | ${seconds(upgradeMs)} s | |`,
    `| writes to VirtualMachines during the upgrade | ${upgradeWrites} | 0 |`,
    "",
    "A crashed manager process restarts in its pod (kubelet, ~1 s) and, its identity being its pod's",
    "name, takes its own Lease back at once. A killed pod cannot release its Lease: the standby takes",
    "over once the Lease's 10 s have passed since the last renewal it saw change (renewals every 2 s:",
    "8–12 s after the kill), then reconciles.",
    "A deleted pod's manager gets SIGTERM, drains and releases the Lease; the standby, watching the",
    "Lease, takes it as soon as it is free.",
    "",
  ].join("\n");
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  }
  if (values.markdown) {
    mkdirSync(dirname(values.markdown), { recursive: true });
    writeFileSync(values.markdown, markdown);
  }
  say(markdown);
} finally {
  await helm(["uninstall", release, "--kubeconfig", node.kubeconfig, "-n", system, "--wait"]).catch(() => undefined);
  await node.stop();
  for (const f of forwards) await f.stop();
  await removeLeftovers(`${ns}.`);
}
