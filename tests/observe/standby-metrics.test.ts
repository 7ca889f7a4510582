// Scenario: two manager replicas with leader election (ADR 0035: the fleet's series come from the
// leader only, so sums over replicas never count twice).
//   then  both serve /metrics; the leader's scrape has the fleet (omnivisor_resources), the
//         standby's has none of it but has its leadership (omnivisor_leader 0);
//   when  the leader stops (its Lease released)
//   then  the other leads and its scrape has the fleet.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { parseExposition } from "../../src/metrics/label-rule.ts";
import { apply, kubectl, type Operator } from "../lifecycle/fixtures.ts";
import { startManagerProcess } from "../quota/fixtures.ts";

const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const ns = `obs-standby-${randomBytes(3).toString("hex")}`;
const replicas: Operator[] = [];

const start = (): Operator =>
  startManagerProcess(["--kubeconfig", operatorKubeconfig, "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--namespace", ns, "--watch-namespace", ns, "--lease-name", "observe-standby", "--host-selector", `omnivisor.io/scenario=${ns}`]);

function port(op: Operator): number | undefined {
  const line = op.output.join("").split("\n").find((l) => l.includes("serving /metrics"));
  return line ? (JSON.parse(line) as { port: number }).port : undefined;
}

/** What a replica's scrape says: whether it leads, and how many fleet series it has for our namespace. */
async function scrape(op: Operator): Promise<{ leader: number; fleet: number } | undefined> {
  const p = port(op);
  if (!p || op.child.exitCode !== null) return undefined;
  const text = await (await fetch(`http://127.0.0.1:${p}/metrics`)).text();
  const series = parseExposition(text);
  const leader = Number(/^omnivisor_leader\{lease="observe-standby"\} (\d)/m.exec(text)?.[1] ?? "NaN");
  return { leader, fleet: series.filter((s) => s.name === "omnivisor_resources" && s.labels.namespace === ns).length };
}

beforeAll(async () => {
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(admin, { apiVersion: "omnivisor.io/v1alpha1", kind: "VDCQuota", metadata: { name: "q", namespace: ns }, spec: { hard: { virtualMachines: 1 } } });
  replicas.push(start(), start());
});

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await kubectl(admin, ["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
});

describe("metrics of two replicas", () => {
  it("given two replicas, then only the leader's scrape has the fleet; when it stops, the other's does", async () => {
    const both = await waitFor("one leader with the fleet, one standby without", async () => {
      const [a, b] = await Promise.all(replicas.map(scrape));
      if (!a || !b) return undefined;
      const leader = a.leader === 1 ? 0 : b.leader === 1 ? 1 : -1;
      return leader >= 0 && [a, b][leader]!.fleet > 0 ? { leader, a, b } : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, onTimeout: () => replicas.map((r) => r.output.join("").slice(-800)).join("\n---\n") });
    const standby = [both.a, both.b][1 - both.leader]!;
    expect(standby).toEqual({ leader: 0, fleet: 0 });
    await replicas[both.leader]!.stop();
    const other = replicas[1 - both.leader]!;
    const after = await waitFor("the other replica leading with the fleet", async () => {
      const s = await scrape(other);
      return s && s.leader === 1 && s.fleet > 0 ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, onTimeout: () => other.output.join("").slice(-1500) });
    expect(after.fleet).toBeGreaterThan(0);
  }, 150_000);
});
