// helm (built by scripts/build-tools.sh) run on the chart in charts/omnivisor: template, lint,
// install. Failures carry helm's own message.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, requireTools, toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);

export const chartDir = join(repoRoot, "charts", "omnivisor");

export function helmPath(): string {
  const tc = toolchain();
  requireTools(tc, ["helm"]);
  return tc.helm;
}

/** Runs helm; resolves stdout, rejects with an error holding helm's stderr. */
export async function helm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run(helmPath(), args, { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: "/tmp/omnivisor-helm/cache", HELM_CONFIG_HOME: "/tmp/omnivisor-helm/config", HELM_DATA_HOME: "/tmp/omnivisor-helm/data", ...env } });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

/** `helm template` of the chart as release `release` in `namespace`, with --set values. */
export function renderChart(release: string, namespace: string, set: Record<string, string> = {}, extra: string[] = []): Promise<string> {
  const sets = Object.entries(set).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  return helm(["template", release, chartDir, "--namespace", namespace, ...sets, ...extra]);
}
