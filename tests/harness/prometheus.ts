// A real Prometheus for end-to-end scenarios: Debian's binary, its own temporary directory, on
// loopback only, scraping the given targets and evaluating the given rules files unchanged. Only
// its scrape and evaluation intervals are short (its own config), never the rules' semantics.
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "../../src/local/ports.ts";
import { ManagedProcess } from "../../src/local/process.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";

export const prometheusBinary = "/usr/bin/prometheus";

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
}

export class TestPrometheus {
  readonly url: string;
  private readonly dir: string;
  private readonly process: ManagedProcess;

  private constructor(dir: string, port: number, process: ManagedProcess) {
    this.dir = dir;
    this.url = `http://127.0.0.1:${port}`;
    this.process = process;
  }

  static async start(options: { targets: string[]; rulesFiles: string[]; intervalSeconds: number }): Promise<TestPrometheus> {
    if (!existsSync(prometheusBinary)) throw new Error(`${prometheusBinary} is missing: Debian's prometheus package provides it (scripts/install-packages.sh)`);
    const dir = await mkdtemp(join(tmpdir(), "omni-prometheus-"));
    const port = await freePort();
    const interval = `${options.intervalSeconds}s`;
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: options.rulesFiles,
      // honor_labels as the chart's ServiceMonitor sets it: the metrics' own namespace label stays
      scrape_configs: [{ job_name: "omnivisor", honor_labels: true, static_configs: [{ targets: options.targets }] }],
    };
    await writeFile(join(dir, "prometheus.yml"), stringify(config));
    const supervise = join(toolchain().cache, "bin", "supervise");
    const process = new ManagedProcess({
      name: "prometheus (test)",
      command: prometheusBinary,
      args: [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--storage.tsdb.retention.time=2h", "--log.level=warn"],
      logFile: join(dir, "prometheus.log"),
      ...(existsSync(supervise) ? { supervise } : {}),
    });
    const prom = new TestPrometheus(dir, port, process);
    await process.start();
    await waitFor("Prometheus to be ready", async () => {
      if (!process.running) throw new Error(`prometheus exited:\n${process.tail()}`);
      const res = await fetch(`${prom.url}/-/ready`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, onTimeout: () => process.tail() });
    return prom;
  }

  private async api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  }

  /** An instant query (now). */
  async query(expr: string): Promise<PromSample[]> {
    const data = await this.api<{ resultType: string; result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    return data.result;
  }

  /** Pending and firing alerts. */
  async alerts(): Promise<PromAlert[]> {
    return (await this.api<{ alerts: PromAlert[] }>("/api/v1/alerts")).alerts;
  }

  /** Values of a label over the series matching a selector (what a Grafana label_values() variable lists). */
  async labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`);
  }

  /** Health of the scrape targets. */
  async targets(): Promise<{ health: string; lastError: string; scrapeUrl: string }[]> {
    return (await this.api<{ activeTargets: { health: string; lastError: string; scrapeUrl: string }[] }>("/api/v1/targets")).activeTargets;
  }

  tail(): string {
    return this.process.tail();
  }

  async stop(): Promise<void> {
    await this.process.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
