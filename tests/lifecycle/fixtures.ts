// Helpers for the VM lifecycle scenarios: the operator as a real process (`node
// src/cmd/manager.ts`, so it can be killed -9), manifests applied with kubectl, and what the
// hypervisors say (virsh, docker CLI) — the world, not the operator's view of it.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { runKubectl } from "../../src/local/kubectl.ts";
import { watcherCredentialsBinding } from "../../src/local/watcher-credentials.ts";
import { dockerSocket, libvirtUri } from "../harness/services.ts";

const run = promisify(execFile);

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return runKubectl(toolchain().kubectl, kubeconfig, args, input);
}

export async function apply(kubeconfig: string, ...objects: object[]): Promise<void> {
  await kubectl(kubeconfig, ["apply", "-f", "-"], objects.map((o) => stringify(o)).join("---\n"));
}

export interface Obj {
  metadata: { name: string; namespace?: string; uid: string; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    host?: string;
    driver?: string;
    externalId?: string;
    powerState?: string;
    conditions?: { type: string; status: string; reason: string; message?: string }[];
    [k: string]: unknown;
  };
}

export async function getObject(kubeconfig: string, kind: string, name: string, namespace?: string): Promise<Obj | undefined> {
  const out = await kubectl(kubeconfig, ["get", kind, name, "-o", "json", "--ignore-not-found", ...(namespace ? ["-n", namespace] : [])]);
  return out.trim() ? (JSON.parse(out) as Obj) : undefined;
}

export function condition(obj: Obj | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

export interface Operator {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

function startProcess(script: string, args: string[], netns?: string): Operator {
  // in a network namespace: `ip netns exec` execs node, so the child is still the process itself
  const [command, prefix] = netns ? ["ip", ["netns", "exec", netns, process.execPath]] : [process.execPath, []];
  const child = spawn(command, [...prefix, join(repoRoot, "src", "cmd", script), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (c: string) => output.push(c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => output.push(c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** The last warnings and errors the given processes logged: what a timed-out wait shows. */
export function warnings(...processes: (Operator | undefined)[]): string {
  return processes.flatMap((p) => p?.output ?? []).join("").split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15).join("\n");
}

/**
 * Removes the cluster-scoped objects of a scenario (Hosts, Datacenters whose name contains
 * `marker`), finalizers first: the operator that would release them is already stopped.
 */
export async function removeClusterObjects(kubeconfig: string, marker: string): Promise<void> {
  const names = (await kubectl(kubeconfig, ["get", "hosts.omnivisor.io,datacenters.omnivisor.io", "-o", "name"])).split("\n").filter((n) => n.includes(marker));
  if (names.length === 0) return;
  await kubectl(kubeconfig, ["patch", ...names, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}']).catch(() => undefined);
  await kubectl(kubeconfig, ["delete", ...names, "--wait=false"]).catch(() => undefined);
}

/** The real controller manager, as a process, reconciling as the RBAC-limited operator identity. */
export function startOperator(kubeconfig: string, watchNamespace: string, extraArgs: string[] = []): Operator {
  return startProcess("manager.ts", ["--kubeconfig", kubeconfig, "--no-leader-elect", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--watch-namespace", watchNamespace, "--namespace", watchNamespace, ...extraArgs]);
}

/**
 * A scenario's end: its VMMigrations and VMs deleted while its operator still runs (so they leave
 * their hosts), then its processes stopped, its namespace and its cluster-scoped objects (named
 * with `marker`) removed.
 */
export async function endScenario(kubeconfig: string, namespace: string, marker: string, ...processes: (Operator | undefined)[]): Promise<void> {
  for (const kind of ["vmmigrations", "virtualmachines"]) {
    await kubectl(kubeconfig, ["delete", `${kind}.omnivisor.io`, "--all", "-n", namespace, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  }
  for (const p of processes) await p?.stop();
  await kubectl(kubeconfig, ["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
  await removeClusterObjects(kubeconfig, marker);
}

/** The label a scenario puts on its Hosts, so that its operator (startScopedOperator) serves those only. */
export const scenarioLabel = (scenario: string): Record<string, string> => ({ "omnivisor.io/scenario": scenario });

/**
 * An operator that serves only the Hosts labelled for its scenario (--host-selector): Hosts are
 * cluster-wide, and the operators of scenarios running at the same time on the shared control
 * plane would otherwise each reconcile (and place VMs on) every scenario's Hosts, counting only
 * their own namespace's VMs.
 */
export function startScopedOperator(kubeconfig: string, scenario: string, extraArgs: string[] = []): Operator {
  return startOperator(kubeconfig, scenario, ["--host-selector", `omnivisor.io/scenario=${scenario}`, ...extraArgs]);
}

/** Lets the status watchers' identity read Host credentials Secrets in namespace (and only there). */
export async function allowWatcherCredentials(admin: string, namespace: string): Promise<void> {
  await apply(admin, watcherCredentialsBinding(namespace));
}

/**
 * The status watcher of a node (it follows the Hosts whose spec.node names it), heartbeat Leases in
 * `namespace`; inside a test host's network namespace when `netns` is given (tests/harness/host-network.ts).
 */
export function startStatusWatcher(kubeconfig: string, node: string, namespace: string, netns?: string): Operator {
  return startProcess("status-watcher.ts", ["--kubeconfig", kubeconfig, "--node", node, "--lease-namespace", namespace, "--watch-namespace", namespace, "--heartbeat-interval", "2"], netns);
}

/** Domains whose name starts with prefix, with their state ("running", "shut off", ...). */
export async function virshDomains(prefix: string): Promise<Map<string, string>> {
  const { stdout } = await run("virsh", ["-c", libvirtUri, "list", "--all", "--name"]);
  const names = stdout.split("\n").map((s) => s.trim()).filter((n) => n.startsWith(prefix));
  const out = new Map<string, string>();
  for (const name of names) {
    const state = await run("virsh", ["-c", libvirtUri, "domstate", name]).then((r) => r.stdout.trim(), () => "gone");
    out.set(name, state);
  }
  return out;
}

/** Containers whose name starts with prefix, with their state ("running", "exited", ...). */
export async function dockerContainers(prefix: string): Promise<Map<string, string>> {
  const { stdout } = await run("docker", ["-H", `unix://${dockerSocket}`, "ps", "-a", "--format", "{{.Names}} {{.State}}"]);
  const out = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const [name, state] = line.trim().split(" ");
    if (name?.startsWith(prefix)) out.set(name, state ?? "");
  }
  return out;
}

/** Removes what a failed scenario may have left on the hypervisors. */
export async function removeLeftovers(prefix: string): Promise<void> {
  for (const name of (await virshDomains(prefix)).keys()) {
    await run("virsh", ["-c", libvirtUri, "destroy", name]).catch(() => undefined);
    await run("virsh", ["-c", libvirtUri, "undefine", name, "--nvram"]).catch(() => run("virsh", ["-c", libvirtUri, "undefine", name]).catch(() => undefined));
  }
  for (const name of (await dockerContainers(prefix)).keys()) {
    await run("docker", ["-H", `unix://${dockerSocket}`, "rm", "-f", name]).catch(() => undefined);
  }
}
