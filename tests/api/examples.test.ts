// Scenarios for the API as a GitOps user meets it: the CRDs install on Kubernetes 1.36 and
// re-applying them changes nothing; every example is accepted; an applied example shows no drift
// in `kubectl diff`; `kubectl get omnivisor -A` lists every kind; `kubectl explain` documents
// every field.
// This file runs its own control plane: the examples are cluster-scoped Hosts, pools and policies
// that would otherwise appear in every other area's tests on the shared one.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crdName } from "../../src/api/crd.ts";
import { group, version } from "../../src/api/kind.ts";
import { kinds } from "../../src/api/kinds.ts";
import { virtualMachineSpec } from "../../src/api/virtual-machine.ts";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { kubeRequest } from "../../src/local/kube-http.ts";
import { repoRoot } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";

const examples = join(repoRoot, "examples");
const crds = join(repoRoot, "crds");

let cp: ControlPlane;

beforeAll(async () => {
  cp = await ControlPlane.start({ controllerManager: false });
});

afterAll(async () => {
  await cp?.stop();
});

interface CrdList {
  items: { metadata: { name: string; resourceVersion: string; generation: number }; status: { conditions: { type: string; status: string }[] } }[];
}

async function omnivisorCrds(): Promise<CrdList["items"]> {
  const list = JSON.parse(await cp.kubectl(["get", "crd", "-o", "json"])) as CrdList;
  return list.items.filter((c) => c.metadata.name.endsWith(`.${group}`)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean };

function undocumented(schema: Schema, path: string): string[] {
  const missing: string[] = [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const childPath = `${path}.${name}`;
    if (!child.description) missing.push(childPath);
    missing.push(...undocumented(child, childPath));
  }
  if (schema.items) missing.push(...undocumented(schema.items, `${path}[]`));
  if (typeof schema.additionalProperties === "object") missing.push(...undocumented(schema.additionalProperties, `${path}{}`));
  return missing;
}

describe("the omnivisor.io API on a real Kubernetes 1.36 API server", () => {
  it("given the generated CRDs installed, then all eight are established, and applying them again is a no-op", async () => {
    const before = await omnivisorCrds();
    expect(before.map((c) => c.metadata.name)).toEqual(kinds.map(crdName).sort());
    for (const c of before) expect(c.status.conditions).toContainEqual(expect.objectContaining({ type: "Established", status: "True" }));

    await cp.kubectl(["apply", "--server-side", "--force-conflicts", "-f", crds]);
    const after = await omnivisorCrds();
    expect(after.map((c) => [c.metadata.name, c.metadata.resourceVersion, c.metadata.generation])).toEqual(
      before.map((c) => [c.metadata.name, c.metadata.resourceVersion, c.metadata.generation]),
    );
    const diff = await cp.kubectlResult(["diff", "--server-side", "--force-conflicts", "-f", crds]);
    expect(diff.stdout).toBe("");
    expect(diff.code).toBe(0);
  });

  it("given the examples, when dry-run on the server, then every manifest is accepted", async () => {
    await cp.kubectl(["apply", "--server-side", "-f", join(examples, "00-namespaces.yaml")]);
    const out = await cp.kubectl(["apply", "--server-side", "--dry-run=server", "-f", examples]);
    const accepted = out.trim().split("\n");
    for (const file of readdirSync(examples).filter((f) => f.endsWith(".yaml"))) expect(file).toMatch(/^\d\d-[a-z0-9-]+\.yaml$/);
    expect(accepted.every((line) => line.endsWith("(server dry run)"))).toBe(true);
    for (const kind of kinds) expect(out, `no ${kind.kind} example`).toContain(`${kind.kind.toLowerCase()}.${group}/`);
  });

  it("given the examples applied, when diffed against the server, then there is no drift (defaults live in the schema)", async () => {
    await cp.kubectl(["apply", "--server-side", "-f", examples]);
    const serverSide = await cp.kubectlResult(["diff", "--server-side", "-f", examples]);
    expect(serverSide.stdout).toBe("");
    expect(serverSide.code).toBe(0);
    const clientSide = await cp.kubectlResult(["diff", "-f", examples]);
    expect(clientSide.stdout).toBe("");
    expect(clientSide.code).toBe(0);
  });

  it("given the examples, when applied with kubectl (client-side, as scripts and GitOps users do) and applied again, then every object is `unchanged`", async () => {
    await cp.kubectl(["apply", "-f", examples]);
    const again = (await cp.kubectl(["apply", "-f", examples])).trim().split("\n");
    expect(again.length).toBeGreaterThanOrEqual(kinds.length);
    expect(again.filter((line) => !line.endsWith(" unchanged"))).toEqual([]);
  });

  it("given the examples applied and the operator having written status, finalizers and objects of its own for them, when applied again, then every object is still `unchanged`", async () => {
    // The operator serves no Host (the examples' endpoints are other machines: nothing may be
    // dialled from here); it places nothing, but writes status, conditions and finalizers, and
    // makes the vApp's member VMs — what a user's second apply meets after the first converged.
    const operator = spawn(process.execPath, [join(repoRoot, "src", "cmd", "manager.ts"), "--kubeconfig", cp.kubeconfigs.operator, "--no-leader-elect", "--metrics-port", "0", "--namespace", "omnivisor-system", "--host-selector", "omnivisor.io/scenario=examples-none", "--no-status-watcher"], { stdio: ["ignore", "pipe", "pipe"] });
    const log: string[] = [];
    operator.stdout.setEncoding("utf8").on("data", (c: string) => log.push(c));
    operator.stderr.setEncoding("utf8").on("data", (c: string) => log.push(c));
    try {
      await waitFor("the operator to have written every example's status", async () => {
        const all = JSON.parse(await cp.kubectl(["get", kinds.map((k) => `${k.plural}.${group}`).join(","), "-A", "-o", "json"])) as { items: { kind: string; metadata: { name: string }; status?: { conditions?: unknown[] } }[] };
        // (Hosts are out of this operator's scope; DRSPolicy and HAPolicy: no status written in this run)
        const served = new Set(["Datacenter", "HostPool", "VirtualMachine", "VApp", "VDCQuota", "VMMigration"]);
        const without = all.items.filter((o) => served.has(o.kind) && (o.status?.conditions?.length ?? 0) === 0);
        return without.length === 0 && all.items.some((o) => o.kind === "VirtualMachine" && o.metadata.name.startsWith("shop-")) ? true : undefined;
      }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: () => log.join("").slice(-3000) });
      const again = (await cp.kubectl(["apply", "-f", examples])).trim().split("\n");
      expect(again.filter((line) => !line.endsWith(" unchanged"))).toEqual([]);
    } finally {
      operator.kill("SIGTERM");
      await new Promise((resolve) => operator.once("exit", resolve));
    }
  });

  it("when listing the omnivisor category, then every kind is there with its printer columns", async () => {
    const out = await cp.kubectl(["get", "omnivisor", "-A"]);
    for (const kind of kinds) expect(out).toContain(`${kind.kind.toLowerCase()}.${group}/`);
    const vms = await cp.kubectl(["get", "ovm", "-n", "team-a"]);
    expect(vms.split("\n")[0]!.split(/\s{2,}/)).toEqual(["NAME", "PHASE", "HOST", "DRIVER", "CPUS", "MEMORY", "IP", "READY", "AGE"]);
    expect(vms).toMatch(/web-1\s+(Pending\s+)?2\s+4Gi/);
  });

  it("when explaining virtualmachine.spec, then every spec field is documented", async () => {
    const out = await cp.kubectl(["explain", "virtualmachine.spec"]);
    for (const field of Object.keys(virtualMachineSpec.shape)) expect(out).toMatch(new RegExp(`^  ${field}\\t<[^>]+>\\n(  enum: .*\\n)?    \\S`, "m"));
    const nested = await cp.kubectl(["explain", "virtualmachine.spec.powerOff.mode"]);
    expect(nested.replace(/\s+/g, " ")).toContain("TrySoft: guest shutdown, then power off at the deadline.");
  });

  it("when reading the published OpenAPI v3, then every field of every kind has a description", async () => {
    const res = await kubeRequest(cp.admin, "GET", `/openapi/v3/apis/${group}/${version}`, undefined, 30_000);
    expect(res.status).toBe(200);
    const schemas = (JSON.parse(res.body) as { components: { schemas: Record<string, Schema> } }).components.schemas;
    for (const kind of kinds) {
      const schema = schemas[`io.omnivisor.${version}.${kind.kind}`];
      expect(schema, kind.kind).toBeDefined();
      const props = schema!.properties!;
      expect(undocumented(props.spec!, `${kind.kind}.spec`)).toEqual([]);
      expect(undocumented(props.status!, `${kind.kind}.status`)).toEqual([]);
    }
  });
});
