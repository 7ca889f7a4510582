// Helpers for the VDCQuota scenarios: a namespace of its own, a manager that serves the webhook
// (and the vdcquota controller) on loopback with a certificate from the shared control plane's CA,
// and a ValidatingWebhookConfiguration scoped to that namespace by a label. The shared control
// plane serves every test file at once: a cluster-wide configuration with failurePolicy Fail would
// refuse every other scenario's VMs the moment this scenario's manager stops.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { servingCert } from "../../src/local/pki.ts";
import { freePort } from "../../src/local/ports.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { quotaWebhookConfiguration } from "../../src/local/webhook-config.ts";
import { apply, getObject, kubectl, startOperator, type Operator } from "../lifecycle/fixtures.ts";

const run = promisify(execFile);
export const api = "omnivisor.io/v1alpha1";
export const scenarioLabelKey = "omnivisor.io/quota-scenario";

export interface QuotaScenario {
  namespace: string;
  admin: string;
  operatorKubeconfig: string;
  port: number;
  cert: { cert: string; key: string; ca: string };
  operator: Operator | undefined;
  /** Starts (again) the manager serving the webhook; resolves once it answers TLS. */
  startManager(extraArgs?: string[]): Promise<Operator>;
  stopManager(): Promise<void>;
  end(): Promise<void>;
}

export async function quotaScenario(namespace: string, kubeconfigs: { admin: string; operator: string; controlPlaneDir: string }): Promise<QuotaScenario> {
  const { admin } = kubeconfigs;
  await apply(admin, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { [scenarioLabelKey]: namespace } } });
  const cert = await servingCert(kubeconfigs.controlPlaneDir, `webhook-${namespace}`, ["IP:127.0.0.1", "DNS:localhost"]);
  const port = await freePort();
  const scenario: QuotaScenario = {
    namespace,
    admin,
    operatorKubeconfig: kubeconfigs.operator,
    port,
    cert,
    operator: undefined,
    async startManager(extraArgs = []) {
      const op = startOperator(kubeconfigs.operator, namespace, [
        "--controllers", "vdcquota",
        "--webhook-port", String(port), "--webhook-host", "127.0.0.1", "--webhook-cert-file", cert.cert, "--webhook-key-file", cert.key,
        ...extraArgs,
      ]);
      scenario.operator = op;
      await waitFor("the manager's /readyz (caches synced, webhook serving)", () => readyz(op), { timeoutMs: 60_000, intervalMs: 200, onTimeout: () => op.output.join("").slice(-2000) });
      return op;
    },
    async stopManager() {
      await scenario.operator?.stop();
      scenario.operator = undefined;
    },
    async end() {
      await kubectl(admin, ["delete", "validatingwebhookconfiguration", webhookConfigName(namespace), "--ignore-not-found"]).catch(() => undefined);
      for (const kind of ["vapps", "virtualmachines", "vdcquotas"]) {
        await kubectl(admin, ["delete", `${kind}.omnivisor.io`, "--all", "-n", namespace, "--wait=false"]).catch(() => undefined);
      }
      await scenario.operator?.stop();
      await kubectl(admin, ["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
    },
  };
  await apply(admin, quotaWebhookConfiguration({ name: webhookConfigName(namespace), url: `https://127.0.0.1:${port}/validate-quota`, caFile: cert.ca, namespaceLabels: { [scenarioLabelKey]: namespace } }));
  return scenario;
}

const webhookConfigName = (namespace: string): string => `quota-${namespace}`;

/** A manager process with the given flags only (leader election as they say), output kept. */
export function startManagerProcess(args: string[]): Operator {
  const child = spawn(process.execPath, [join(repoRoot, "src", "cmd", "manager.ts"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (c: string) => output.push(c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => output.push(c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  };
  return { child, output, exited, stop, kill: stop };
}

/** The manager's health port, from its log line; then /readyz. */
export async function readyz(op: Operator): Promise<true | undefined> {
  const line = op.output.join("").split("\n").find((l) => l.includes("serving /metrics"));
  const port = line ? (JSON.parse(line) as { port: number }).port : undefined;
  if (!port) return undefined;
  const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
  return res?.status === 200 ? true : undefined;
}

export function vm(namespace: string, name: string, cpus = 1, extra: Record<string, unknown> = {}): object {
  // needs no hypervisor work: no operator here places or creates VMs
  return { apiVersion: api, kind: "VirtualMachine", metadata: { name, namespace }, spec: { cpus, memory: "64Mi", ...extra } };
}

export function quota(namespace: string, name: string, hard: Record<string, unknown>, perDriver?: object[]): object {
  return { apiVersion: api, kind: "VDCQuota", metadata: { name, namespace }, spec: { hard, ...(perDriver ? { perDriver } : {}) } };
}

export interface QuotaStatus {
  used?: { virtualMachines?: number; cpus?: number; memory?: string; storage?: string };
  usedPerDriver?: { driver: string; used: { virtualMachines?: number; cpus?: number } }[];
  charges?: { uid: string; kind: string; name: string; at: string; fromReservation?: boolean }[];
  reservations?: { holder: string; room: { virtualMachines?: number; cpus?: number }; at: string; wants?: boolean }[];
  conditions?: { type: string; status: string; reason: string; message?: string }[];
}

export async function quotaStatus(admin: string, namespace: string, name: string): Promise<QuotaStatus | undefined> {
  const q = (await getObject(admin, "vdcquotas.omnivisor.io", name, namespace));
  return q?.status;
}

/** Waits until the quota's status satisfies `test` (the recount runs within seconds of a change). */
export function quotaUntil(admin: string, namespace: string, name: string, what: string, test: (s: QuotaStatus) => boolean): Promise<QuotaStatus> {
  let last: QuotaStatus | undefined;
  return waitFor(what, async () => {
    last = await quotaStatus(admin, namespace, name);
    return last && test(last) ? last : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250, onTimeout: () => `last status: ${JSON.stringify(last)}` });
}

export interface CreateOutcome {
  name: string;
  code: number;
  stderr: string;
}

/** `kubectl create -f <file>`, one process per manifest, all spawned at once. */
export async function createAtOnce(admin: string, manifests: { name: string; body: object }[]): Promise<CreateOutcome[]> {
  const dir = await mkdtemp(join(tmpdir(), "quota-creates-"));
  const files = await Promise.all(manifests.map(async (m) => {
    const file = join(dir, `${m.name}.yaml`);
    await writeFile(file, stringify(m.body));
    return { name: m.name, file };
  }));
  const kubectlBin = toolchain().kubectl;
  return Promise.all(files.map(({ name, file }) =>
    run(kubectlBin, ["--kubeconfig", admin, "create", "-f", file]).then(
      () => ({ name, code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ name, code: typeof err.code === "number" ? err.code : 1, stderr: err.stderr ?? "" }),
    ),
  ));
}

/** Names of the VMs the API server holds in the namespace. */
export async function storedVms(admin: string, namespace: string): Promise<string[]> {
  const out = await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}"]);
  return out.split(/\s+/).filter(Boolean).sort();
}

/**
 * Waits until the webhook configuration is in force (the API server picks it up within a moment):
 * a gate quota of 200 vCPUs, then a dry-run create of a 201-vCPU VM until the webhook refuses it.
 * The gate is deleted again.
 */
export async function webhookInForce(admin: string, namespace: string): Promise<void> {
  await apply(admin, quota(namespace, "gate", { cpus: 200 }));
  await quotaUntil(admin, namespace, "gate", "the gate quota counted", (q) => q.used !== undefined);
  const dir = await mkdtemp(join(tmpdir(), "quota-probe-"));
  const file = join(dir, "probe.yaml");
  await writeFile(file, stringify(vm(namespace, "probe", 201)));
  await waitFor("the API server to call the VDCQuota webhook", async () => {
    const out = await run(toolchain().kubectl, ["--kubeconfig", admin, "create", "--dry-run=server", "-f", file]).then(() => "", (err: { stderr?: string }) => err.stderr ?? "");
    return out.includes(`namespace ${namespace} would use 201 vCPUs of 200`) ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 300 });
  await kubectl(admin, ["delete", "vdcquota", "gate", "-n", namespace, "--wait=true"]);
}
