// Scenario: a real Prometheus (Debian's) scrapes a running manager — its controllers and its own
// status watcher — that serves a make-run-sized fleet on this machine's libvirtd and dockerd, plus
// a private dockerd as a third host, with the shipped alert rules loaded unchanged.
//   then  the scrape keeps the per-VM label rule (ADR 0035); its series are counted;
//   when  a container is moved live (Docker cannot: the move fails) and then cold (it succeeds)
//   then  the moves are counted by outcome with the cold move's duration; OmnivisorMigrationFailed fires;
//   when  the private host's dockerd is stopped
//   then  OmnivisorHostDown fires for that host (its `for: 1m` included);
//   given a VM that fits on no host
//   then  OmnivisorVMStuckPending fires for its namespace (after 2 minutes Pending);
//   then  every query of the shipped Grafana dashboard returns data;
//   when  the dockerd comes back
//   then  OmnivisorHostDown resolves.
// Takes about 3 minutes: the alerts' own thresholds (1 and 2 minutes) are what a user gets.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseExposition, perVmLabels } from "../../src/metrics/label-rule.ts";
import { servingCert } from "../../src/local/pki.ts";
import { freePort } from "../../src/local/ports.ts";
import { repoRoot } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { quotaWebhookConfiguration } from "../../src/local/webhook-config.ts";
import { PrivateDockerd } from "../harness/private-dockerd.ts";
import { TestPrometheus, type PromAlert } from "../harness/prometheus.ts";
import { requireDocker, requireLibvirt } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, startScopedOperator, warnings, type Operator } from "../lifecycle/fixtures.ts";
import { quotaUntil, readyz, webhookInForce } from "../quota/fixtures.ts";
import { fleet, migration, mover, tenantQuota, workloads, worldNames } from "./world.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const n = worldNames(randomBytes(3).toString("hex"));
const rulesFile = join(repoRoot, "charts/omnivisor/files/monitoring/omnivisor-rules.yaml");
const dashboardFile = join(repoRoot, "charts/omnivisor/files/monitoring/omnivisor-dashboard.json");
const webhookLabel = "omnivisor.io/observe-scenario";
const started = Date.now();

let dockerd: PrivateDockerd | undefined;
let operator: Operator | undefined;
let prometheus: TestPrometheus | undefined;
let metricsPort = 0;
let stoppedAt = 0;

const logs = (): string => `${warnings(operator)}\n${prometheus?.tail() ?? ""}`;
const seconds = (from: number): number => Math.round((Date.now() - from) / 100) / 10;

function firing(alerts: PromAlert[], name: string, labels: Record<string, string>): PromAlert | undefined {
  return alerts.find((a) => a.state === "firing" && a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
}

beforeAll(async () => {
  await requireDocker();
  await requireLibvirt();
  dockerd = await PrivateDockerd.start();
  await apply(admin, { apiVersion: "v1", kind: "Namespace", metadata: { name: n.ns, labels: { [webhookLabel]: n.ns } } });
  const cert = await servingCert(inject("controlPlaneDir"), `webhook-${n.ns}`, ["IP:127.0.0.1", "DNS:localhost"]);
  const webhookPort = await freePort();
  await apply(admin, ...fleet(n, dockerd.endpoint));
  operator = startScopedOperator(operatorKubeconfig, n.ns, [
    "--heartbeat-interval", "2",
    "--webhook-port", String(webhookPort), "--webhook-host", "127.0.0.1", "--webhook-cert-file", cert.cert, "--webhook-key-file", cert.key,
  ]);
  await waitFor("the manager's /readyz", () => readyz(operator!), { timeoutMs: 60_000, intervalMs: 200, onTimeout: logs });
  const line = operator.output.join("").split("\n").find((l) => l.includes("serving /metrics"))!;
  metricsPort = (JSON.parse(line) as { port: number }).port;
  await apply(admin, quotaWebhookConfiguration({ name: `observe-${n.ns}`, url: `https://127.0.0.1:${webhookPort}/validate-quota`, caFile: cert.ca, namespaceLabels: { [webhookLabel]: n.ns } }));
  await webhookInForce(admin, n.ns);
  await apply(admin, tenantQuota(n));
  await quotaUntil(admin, n.ns, "tenant", "the tenant quota counted", (q) => q.used !== undefined);
  await apply(admin, ...workloads(n));
  prometheus = await TestPrometheus.start({ targets: [`127.0.0.1:${metricsPort}`], rulesFiles: [rulesFile], intervalSeconds: 2 });
}, 240_000);

afterAll(async () => {
  await prometheus?.stop();
  await kubectl(admin, ["delete", "validatingwebhookconfiguration", `observe-${n.ns}`, "--ignore-not-found"]).catch(() => undefined);
  await kubectl(admin, ["delete", "vapps.omnivisor.io", "--all", "-n", n.ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await endScenario(admin, n.ns, n.ns, operator);
  await kubectl(admin, ["delete", `hapolicies.omnivisor.io/${n.ns}-ha`, `hostpools.omnivisor.io/${n.pool}`, `hostpools.omnivisor.io/${n.edgePool}`, "--ignore-not-found", "--wait=false"]).catch(() => undefined);
  await dockerd?.stop();
  console.log(JSON.stringify({ scenario: "observe/prometheus", seconds: seconds(started) }));
}, 180_000);

describe("a real Prometheus scraping the operator", () => {
  it("given the fleet settled, then Prometheus scrapes the manager and the scrape keeps the per-VM label rule", async () => {
    const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, n.ns);
    for (const [name, phase] of [["box-1", "Running"], ["box-2", "Running"], ["shop-web", "Running"], ["mover", "Running"], ["idle", "Stopped"], ["too-big", "Pending"]] as const) {
      await waitFor(`${name} ${phase}`, async () => ((await vm(name))?.status?.phase === phase ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, onTimeout: logs });
    }
    expect(condition(await vm("too-big"), "Scheduled")?.status).toBe("False");
    await waitFor("the scrape target up", async () => ((await prometheus!.targets()).every((t) => t.health === "up") ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, onTimeout: logs });
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const series = parseExposition(text);
    const vms = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", n.ns, "-o", "json"])) as { items: { metadata: { name: string; uid: string } }[] };
    expect(perVmLabels(series, { names: vms.items.map((v) => v.metadata.name), uids: vms.items.map((v) => v.metadata.uid) })).toEqual([]);
    // the fleet's own series: other scenarios' pools and datacenters on the shared control plane left out
    const ours = series.filter((s) => !["pool", "datacenter"].some((k) => s.labels[k] !== undefined && s.labels[k] !== "" && !s.labels[k].startsWith(n.ns)));
    const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, "");
    const byFamily = new Map<string, number>();
    for (const s of ours.filter((x) => x.name.startsWith("omnivisor_"))) byFamily.set(family(s.name), (byFamily.get(family(s.name)) ?? 0) + 1);
    const largest = Object.fromEntries([...byFamily].sort((a, b) => b[1] - a[1]).slice(0, 6));
    console.log(JSON.stringify({ scrape: { series: series.length, ours: ours.length, omnivisor: ours.filter((s) => s.name.startsWith("omnivisor_")).length, hosts: 3, vms: vms.items.length, largest } }));
    expect(ours.filter((s) => s.name === "omnivisor_host_cpu_usage_ratio" && s.labels.host?.startsWith(n.ns)).length).toBe(3);
    // the VMs' own usage, summed per host (observeVmUsage): box-1, box-2 and shop-web run on the
    // docker host; CPU from a VM's second sample on, so a poll (15 s) after they run
    let vmSums = "";
    await waitFor("the hosts' VM usage sums in Prometheus", async () => {
      const now = await prometheus!.query(`{__name__=~"omnivisor_host_vms_.*", host=~"${n.ns}-.*"}`);
      vmSums = JSON.stringify(now.map((r) => [r.metric.__name__, r.metric.host, r.value[1]]));
      const of = (name: string, host: string): number | undefined => {
        const found = now.find((r) => r.metric.__name__ === name && r.metric.host === host);
        return found === undefined ? undefined : Number(found.value[1]);
      };
      const docker = (of("omnivisor_host_vms_memory_used_bytes", n.dockerHost) ?? 0) > 0 && (of("omnivisor_host_vms_cpu_usage_cores", n.dockerHost) ?? -1) >= 0;
      return docker && of("omnivisor_host_vms_memory_used_bytes", n.libvirtHost) !== undefined ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000, onTimeout: () => `VM usage sums: ${vmSums}\n${logs()}` });
    console.log(JSON.stringify({ vmUsageSums: JSON.parse(vmSums) as unknown }));
  }, 180_000);

  it("when a container is moved live (refused: Docker) and then cold, then both moves are counted by outcome and OmnivisorMigrationFailed fires", async () => {
    // as in any deployment, Prometheus has seen the move counters at 0 before the first move
    await waitFor("the move counters at 0 in Prometheus", async () => ((await prometheus!.query('omnivisor_migrations_total{driver="docker",outcome="Failed"} == 0')).length === 2 ? true : undefined), { timeoutMs: 30_000, intervalMs: 1_000, onTimeout: logs });
    await apply(admin, mover(n, [n.privateHost, n.dockerHost]));
    const phase = async (name: string) => (await getObject(admin, "vmmigrations.omnivisor.io", name, n.ns))?.status?.phase;
    await apply(admin, migration(n, "live", true));
    await waitFor("the live move Failed", async () => ((await phase("live")) === "Failed" ? true : undefined), { timeoutMs: 60_000, intervalMs: 500, onTimeout: logs });
    await apply(admin, migration(n, "cold", false));
    await waitFor("the cold move Succeeded", async () => ((await phase("cold")) === "Succeeded" ? true : undefined), { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
    expect((await getObject(admin, "virtualmachines.omnivisor.io", "mover", n.ns))?.status?.host).toBe(n.dockerHost);
    const value = async (expr: string) => Number((await prometheus!.query(expr))[0]?.value[1] ?? "NaN");
    let counted = "";
    await waitFor("both moves in Prometheus", async () => {
      counted = JSON.stringify((await prometheus!.query("omnivisor_migrations_total > 0")).map((r) => [r.metric, r.value[1]]));
      return (await value('sum(omnivisor_migrations_total{driver="docker"})')) === 2 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1_000, onTimeout: () => `counted: ${counted}\n${logs()}` });
    expect(await value('sum(omnivisor_migrations_total{driver="docker",outcome="Failed"})')).toBe(1);
    expect(await value('omnivisor_migrations_total{driver="docker",mode="Cold",outcome="Succeeded"}')).toBe(1);
    expect(await value('omnivisor_migration_duration_seconds_count{driver="docker",mode="Cold"}')).toBe(1);
    let seen = "";
    await waitFor("OmnivisorMigrationFailed firing", async () => {
      const alerts = await prometheus!.alerts();
      seen = JSON.stringify({ alerts: alerts.map((a) => [a.labels, a.state]), increase: (await prometheus!.query('increase(omnivisor_migrations_total{outcome="Failed"}[15m])')).map((r) => [r.metric, r.value[1]]) });
      return firing(alerts, "OmnivisorMigrationFailed", { driver: "docker", outcome: "Failed" });
    }, { timeoutMs: 30_000, intervalMs: 1_000, onTimeout: () => `seen: ${seen}\n${logs()}` });
  }, 240_000);

  it("when the private host's dockerd is stopped, then OmnivisorHostDown fires for it; and OmnivisorVMStuckPending fires for the VM that fits nowhere", async () => {
    stoppedAt = Date.now();
    await dockerd!.crash();
    const down = await waitFor("OmnivisorHostDown firing", async () => firing(await prometheus!.alerts(), "OmnivisorHostDown", { host: n.privateHost, pool: n.edgePool, driver: "docker" }), { timeoutMs: 180_000, intervalMs: 1_000, onTimeout: logs });
    console.log(JSON.stringify({ hostDownFiredAfterSeconds: seconds(stoppedAt) }));
    expect(down.annotations.runbook_url).toMatch(/host-down\.md$/);
    const shared = (await prometheus!.alerts()).filter((a) => a.labels.alertname === "OmnivisorHostDown" && [n.libvirtHost, n.dockerHost].includes(a.labels.host ?? ""));
    expect(shared).toEqual([]);
    const pending = await waitFor("OmnivisorVMStuckPending firing", async () => firing(await prometheus!.alerts(), "OmnivisorVMStuckPending", { namespace: n.ns }), { timeoutMs: 180_000, intervalMs: 1_000, onTimeout: logs });
    expect(pending.annotations.description).toContain(`kubectl get ovm -n ${n.ns}`);
    console.log(JSON.stringify({ stuckPendingFiredAfterSecondsFromStart: seconds(started) }));
  }, 400_000);

  it("every query of the shipped dashboard returns data, and every metric it names is scraped", async () => {
    const dashboard = JSON.parse(readFileSync(dashboardFile, "utf8")) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: { list: { name: string; definition?: string }[] } };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr.replaceAll("$datacenter", ".*").replaceAll("$job", ".*") })));
    expect(exprs.length).toBeGreaterThan(30);
    const names = new Set(await prometheus!.labelValues("__name__", '{job="omnivisor"}'));
    for (const { panel, expr } of exprs) {
      for (const metric of expr.match(/\b(omnivisor|process|nodejs)_[a-z_]+/g) ?? []) expect(names.has(metric), `${panel}: ${metric} scraped`).toBe(true);
      await waitFor(`data for "${panel}": ${expr}`, async () => ((await prometheus!.query(expr)).length > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 1_000 });
    }
    expect(await prometheus!.labelValues("datacenter", "omnivisor_datacenter_hosts")).toContain(n.dc);
  }, 300_000);

  it("when the dockerd comes back, then OmnivisorHostDown resolves", async () => {
    const back = Date.now();
    await dockerd!.restart();
    await waitFor("OmnivisorHostDown resolved", async () => {
      const alerts = await prometheus!.alerts();
      return alerts.some((a) => a.labels.alertname === "OmnivisorHostDown" && a.labels.host === n.privateHost) ? undefined : true;
    }, { timeoutMs: 120_000, intervalMs: 1_000, onTimeout: logs });
    console.log(JSON.stringify({ hostDownResolvedAfterSeconds: seconds(back) }));
    expect((await getObject(admin, "hosts.omnivisor.io", n.privateHost))?.status?.phase).toBe("Ready");
  }, 180_000);
});

