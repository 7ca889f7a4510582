// Scenario: the manager's /metrics, /healthz and /readyz listen on loopback unless told otherwise
// (issue #19): a pod's metrics are opened to the network by the chart's --metrics-host, never by
// default. Checked in the kernel's own table of listening sockets, not in our log.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { cleanupNamespace, createNamespace, installWidgets, spawnManager, type ManagerProcess } from "./fixtures/widgets.ts";

const admin = inject("kubeconfig");
const operator = inject("operatorKubeconfig");
const ns = `rt-metrics-${process.pid}`;
let manager: ManagerProcess | undefined;

/** Local addresses listening on a TCP port, from /proc/net/tcp and tcp6 (hex, as the kernel writes them). */
async function listeners(port: number): Promise<string[]> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const rows = (await readFile(file, "utf8")).split("\n").slice(1).map((l) => l.trim().split(/\s+/));
    for (const [, local, , state] of rows) if (local?.endsWith(`:${hexPort}`) && state === "0A") out.push(local.split(":")[0]!);
  }
  return out;
}

beforeAll(async () => {
  await installWidgets(admin, operator);
  await createNamespace(admin, ns);
});

afterAll(async () => {
  if (manager && manager.child.exitCode === null) manager.child.kill("SIGKILL");
  await cleanupNamespace(admin, ns);
});

describe("where the manager's metrics listen", () => {
  it("given no --metrics-host, then /metrics listens on 127.0.0.1 only", async () => {
    manager = spawnManager(operator, "rt-metrics", ["--namespace", ns, "--lease-name", "metrics-loopback", "--watch-namespace", ns], { metricsHostFlag: false });
    const port = await waitFor("the metrics port in the log", () => manager!.lines.find((l) => l.msg === "serving /metrics, /healthz, /readyz")?.port as number | undefined, { timeoutMs: 30_000 });
    // 0100007F is 127.0.0.1 as /proc/net/tcp writes it (little-endian hex)
    expect(await listeners(port)).toEqual(["0100007F"]);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });
});
