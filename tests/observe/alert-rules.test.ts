// The alert rules as a user gets them: `promtool check rules` accepts the shipped file, `promtool
// test rules` passes every case in omnivisor-rules.test.yaml, and every alert has a runbook page
// its runbook_url names and at least one test case that expects it to fire.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../src/local/toolchain.ts";

const run = promisify(execFile);
const rulesFile = join(repoRoot, "charts/omnivisor/files/monitoring/omnivisor-rules.yaml");
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
