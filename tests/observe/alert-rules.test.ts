// The alert rules as a user gets them: `promtool check rules` accepts the shipped file, `promtool
// test rules` passes every case in omnivisor-rules.test.yaml, and every alert has a runbook page
// its runbook_url names and at least one test case that expects it to fire.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);
const chart = join(repoRoot, "charts/omnivisor");
const rulesFile = join(chart, "files/monitoring/omnivisor-rules.yaml");
const testsFile = join(repoRoot, "tests/observe/omnivisor-rules.test.yaml");

interface Rule { alert: string; annotations: Record<string, string> }
interface TestCase { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }

async function promtool(args: string[]): Promise<string> {
  if (!existsSync("/usr/bin/promtool")) throw new Error("promtool is missing: Debian's prometheus package provides it (scripts/install-packages.sh)");
  const { stdout, stderr } = await run("promtool", args, { cwd: join(repoRoot, "tests/observe") }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`promtool ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  });
  return stdout + stderr;
}

const rules = (): Rule[] => (parse(readFileSync(rulesFile, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe("alert rules", () => {
  it("promtool check rules accepts the shipped rules file", async () => {
    expect(await promtool(["check", "rules", rulesFile])).toContain(`SUCCESS: ${rules().length} rules found`);
  });

  it("promtool test rules passes every case", async () => {
    expect(await promtool(["test", "rules", testsFile])).toContain("SUCCESS");
  });

  it("every alert has a runbook page and a test case in which it fires", () => {
    const cases = (parse(readFileSync(testsFile, "utf8")) as { tests: TestCase[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of rules()) {
      const page = /\/docs\/runbooks\/([a-z-]+\.md)$/.exec(rule.annotations.runbook_url ?? "")?.[1];
      expect(page, `${rule.alert} runbook_url`).toBeDefined();
      expect(existsSync(join(repoRoot, "docs/runbooks", page!)), `docs/runbooks/${page} for ${rule.alert}`).toBe(true);
      expect(readFileSync(join(repoRoot, "docs/runbooks", page!), "utf8")).toContain(`# ${rule.alert}`);
      expect(cases.some((c) => c.alertname === rule.alert && (c.exp_alerts?.length ?? 0) > 0), `a firing test case for ${rule.alert}`).toBe(true);
    }
  });
});

interface Rendered {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { groups?: unknown; selector?: { matchLabels: Record<string, string> }; endpoints?: { port: string; honorLabels?: boolean }[]; ports?: { name: string }[] };
  data?: Record<string, string>;
}

async function helmTemplate(set: string[]): Promise<Rendered[]> {
  const { stdout } = await run(toolchain().helm, ["template", "r", chart, "--namespace", "omnivisor-system", ...set.flatMap((s) => ["--set", s])], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Rendered).filter(Boolean);
}

describe("the chart's monitoring objects", () => {
  it("given monitoring enabled, then the PrometheusRule is the rules file, the ConfigMap the dashboard (sidecar label), and the ServiceMonitor selects the metrics Service's port with honorLabels", async () => {
    const objects = await helmTemplate(["monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true", "monitoring.grafanaDashboard.enabled=true"]);
    const rule = objects.find((o) => o.kind === "PrometheusRule");
    expect(rule?.spec?.groups).toEqual((parse(readFileSync(rulesFile, "utf8")) as { groups: unknown }).groups);
    const dashboard = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboard"));
    expect(dashboard?.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(dashboard?.data?.["omnivisor-dashboard.json"] ?? "{}")).toEqual(JSON.parse(readFileSync(join(chart, "files/monitoring/omnivisor-dashboard.json"), "utf8")));
    const monitor = objects.find((o) => o.kind === "ServiceMonitor");
    const selected = objects.filter((o) => o.kind === "Service" && Object.entries(monitor?.spec?.selector?.matchLabels ?? { none: "" }).every(([k, v]) => o.metadata.labels?.[k] === v));
    expect(selected.some((svc) => svc.spec?.ports?.some((p) => p.name === monitor?.spec?.endpoints?.[0]?.port))).toBe(true);
    expect(monitor?.spec?.endpoints?.[0]?.honorLabels).toBe(true);
  });

  it("given a runbook base URL, then every alert links there; by default none of the three objects is made", async () => {
    const objects = await helmTemplate(["monitoring.prometheusRule.enabled=true", "monitoring.prometheusRule.runbookBaseUrl=https://wiki.example.com/omnivisor/"]);
    const groups = objects.find((o) => o.kind === "PrometheusRule")?.spec?.groups as { rules: Rule[] }[];
    expect(groups.flatMap((g) => g.rules).every((r) => r.annotations.runbook_url?.startsWith("https://wiki.example.com/omnivisor/") && r.annotations.runbook_url.endsWith(".md"))).toBe(true);
    const defaults = await helmTemplate([]);
    expect(defaults.filter((o) => ["PrometheusRule", "ServiceMonitor"].includes(o.kind) || o.metadata.name.endsWith("-dashboard"))).toEqual([]);
  });
});
