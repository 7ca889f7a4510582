// Scenario: the Helm chart against the real API server (no node needed). helm lint passes; what
// `helm template` renders is accepted by `kubectl apply --dry-run=server`; the values schema
// refuses wrong values and names the field; the rendered RBAC, applied for real, gives each
// ServiceAccount no wildcard, and the status watcher no more than it needs: get on Secrets in the
// credentials namespaces only, writes only to VirtualMachine status and its Leases.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { runKubectl } from "../../src/local/kubectl.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { chartDir, helm, renderChart } from "./helm.ts";

const kubectlPath = toolchain().kubectl;
const kubeconfig = inject("kubeconfig");
const kubectl = (args: string[], input?: string): Promise<string> => runKubectl(kubectlPath, kubeconfig, args, input);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

function manifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/** What `kubectl auth can-i --list` is made of: the rules `as` holds in `namespace`. */
async function rulesOf(as: string, namespace: string): Promise<ResourceRule[]> {
  const review = { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectRulesReview", spec: { namespace } };
  const out = await kubectl(["create", "--validate=false", "--as", as, "-o", "json", "-f", "-"], JSON.stringify(review));
  return (JSON.parse(out) as { status: { resourceRules: ResourceRule[] } }).status.resourceRules;
}

const writeVerbs = ["create", "update", "patch", "delete", "deletecollection"];
/** Every Kubernetes identity may review its own access: not the chart's grant. */
const selfReview = (r: ResourceRule): boolean => (r.apiGroups ?? []).every((g) => g === "authorization.k8s.io" || g === "authentication.k8s.io");

/** "verb group/resource[name]" for every write the rules allow, sorted. */
function writes(rules: ResourceRule[]): string[] {
  return rules
    .filter((r) => !selfReview(r))
    .flatMap((r) =>
      r.verbs.filter((v) => writeVerbs.includes(v)).flatMap((v) =>
        (r.apiGroups ?? [""]).flatMap((g) => (r.resources ?? []).map((res) => `${v} ${g || "core"}/${res}${r.resourceNames?.length ? `[${r.resourceNames.join(",")}]` : ""}`)),
      ),
    )
    .sort();
}

/** "verb resource" for every rule on Secrets. */
function secretAccess(rules: ResourceRule[]): string[] {
  return rules.filter((r) => (r.apiGroups ?? []).includes("") && (r.resources ?? []).includes("secrets")).flatMap((r) => r.verbs.map((v) => `${v}${r.resourceNames?.length ? `[${r.resourceNames.join(",")}]` : ""}`)).sort();
}

describe("the Helm chart (API server only)", () => {
  const suffix = randomBytes(3).toString("hex");
  const release = `omnivisor-${suffix}`;
  const namespace = `omnivisor-chart-${suffix}`;
  const credentials = `tenant-creds-${suffix}`;
  const other = `tenant-other-${suffix}`;
  const manager = `system:serviceaccount:${namespace}:${release}-manager`;
  const watcher = `system:serviceaccount:${namespace}:${release}-status-watcher`;
  let rendered: Manifest[] = [];

  beforeAll(async () => {
    for (const ns of [namespace, credentials, other]) await kubectl(["create", "namespace", ns]);
    rendered = manifests(await renderChart(release, namespace, { "credentialsNamespaces[0]": namespace, "credentialsNamespaces[1]": credentials }));
  });

  afterAll(async () => {
    const clusterScoped = rendered.filter((m) => !m.metadata.namespace && m.kind !== "CustomResourceDefinition");
    for (const m of clusterScoped) await kubectl(["delete", m.kind.toLowerCase(), m.metadata.name, "--ignore-not-found", "--wait=false"]);
    for (const ns of [namespace, credentials, other]) await kubectl(["delete", "namespace", ns, "--ignore-not-found", "--wait=false"]);
  });

  it("passes helm lint --strict", async () => {
    const out = await helm(["lint", "--strict", chartDir]);
    expect(out).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("renders what the real API server accepts: kubectl apply --dry-run=server of every object", async () => {
    const kinds = rendered.map((m) => m.kind);
    for (const kind of ["Deployment", "DaemonSet", "PodDisruptionBudget", "ValidatingWebhookConfiguration", "ServiceAccount", "ClusterRole", "Role", "Service", "Secret"]) {
      expect(kinds, `the chart renders a ${kind}`).toContain(kind);
    }
    const text = await renderChart(release, namespace, { "credentialsNamespaces[0]": namespace, "credentialsNamespaces[1]": credentials });
    const out = await kubectl(["apply", "--dry-run=server", "-f", "-"], text);
    const accepted = out.trim().split("\n");
    expect(accepted).toHaveLength(rendered.length);
    for (const line of accepted) expect(line).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
  });

  it("renders the manager as the issue asks: 2 replicas, Lease election, non-root, read-only root, no privilege, heap from the memory limit", () => {
    const deployment = rendered.find((m) => m.kind === "Deployment") as unknown as {
      spec: { replicas: number; template: { spec: { containers: { command: string[]; args: string[]; env: { name: string }[]; securityContext: Record<string, unknown>; resources: { limits: { memory: string } } }[] } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    expect(deployment.spec.replicas).toBe(2);
    expect(container.args).toContain(`--lease-name=${release}-manager`);
    expect(container.args).toContain("--metrics-host=0.0.0.0");
    expect(container.command).toContain("--max-old-space-size-percentage=75");
    expect(container.resources.limits.memory).toBe("512Mi");
    expect(container.env.map((e) => e.name)).toEqual(expect.arrayContaining(["POD_NAME", "NODE_NAME"]));
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
  });

  it.each([
    ["manager.replicas=0", "/manager/replicas"],
    ["image.tag=latest", "/image/tag"],
    ["manager.heapPercent=95", "/manager/heapPercent"],
    ["webhook.certificates.provider=vault", "/webhook/certificates/provider"],
    ["webhook.failurePolicy=Maybe", "/webhook/failurePolicy"],
    ["logLevel=verbose", "/logLevel"],
    ["statusWatcher.socketGroups[0]=0", "/statusWatcher/socketGroups/0"],
    ["credentialsNamespaces[0]=Not_A_Namespace", "/credentialsNamespaces/0"],
    ["manager.resources.limits.memory=lots", "/manager/resources/limits/memory"],
    ["manager.replicaz=3", "replicaz"],
    ["metrics.port=70000", "/metrics/port"],
  ])("refuses %s and names the field (%s)", async (set, field) => {
    const [key, value] = set.split("=") as [string, string];
    const refused = await renderChart(release, namespace, { [key]: value }).then(
      () => "rendered",
      (err: Error) => err.message,
    );
    expect(refused).toContain("values don't meet the specifications of the schema");
    expect(refused).toContain(field);
  });

  it.each([
    [{ "manager.leaderElection.renewDeadlineSeconds": "10" }, "manager.leaderElection.renewDeadlineSeconds (10) must be less than leaseDurationSeconds (10)"],
    [{ "webhook.certificates.renewBeforeDays": "400" }, "webhook.certificates.renewBeforeDays (400) must be less than validityDays (365)"],
  ])("refuses values that contradict each other (%o)", async (set, message) => {
    const refused = await renderChart(release, namespace, set).then(
      () => "rendered",
      (err: Error) => err.message,
    );
    expect(refused).toContain(message);
  });

  describe("RBAC, applied for real", () => {
    beforeAll(async () => {
      const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
      const rbac = rendered.filter((m) => rbacKinds.has(m.kind));
      await kubectl(["apply", "-f", "-"], rbac.map((m) => JSON.stringify(m)).join("\n"));
    });

    it.each(["manager", "status-watcher"])("kubectl auth can-i --list for the %s's ServiceAccount shows no wildcard verb or resource", async (who) => {
      const as = who === "manager" ? manager : watcher;
      for (const ns of [namespace, credentials, other]) {
        const table = await kubectl(["auth", "can-i", "--list", "-n", ns, "--as", as]);
        // Resource rows: "Resources   Non-Resource URLs   Resource Names   Verbs"; Kubernetes' own
        // discovery roles hold non-resource URL globs (/api/*), which are not resources.
        const rows = table.trim().split("\n").slice(1).filter((l) => !l.trimStart().startsWith("[]"));
        expect(rows.length).toBeGreaterThan(0);
        for (const row of rows) expect(row, `${who} in ${ns}: ${row}`).not.toMatch(/(^|\s|\[)\*(\.|\s|\]|$)/);
        for (const rule of await rulesOf(as, ns)) {
          expect(rule.verbs, `${who} in ${ns}`).not.toContain("*");
          expect(rule.resources ?? [], `${who} in ${ns}`).not.toContain("*");
          expect(rule.apiGroups ?? [], `${who} in ${ns}`).not.toContain("*");
        }
      }
    });

    it("the status watcher reads Secrets only in the credentials namespaces, and only by name (get)", async () => {
      expect(secretAccess(await rulesOf(watcher, namespace))).toEqual(["get"]);
      expect(secretAccess(await rulesOf(watcher, credentials))).toEqual(["get"]);
      expect(secretAccess(await rulesOf(watcher, other))).toEqual([]);
    });

    it("the status watcher writes only VirtualMachine status, and Leases in the release namespace", async () => {
      expect(writes(await rulesOf(watcher, namespace))).toEqual([
        "create coordination.k8s.io/leases",
        "patch coordination.k8s.io/leases",
        "patch omnivisor.io/virtualmachines/status",
        "update coordination.k8s.io/leases",
      ]);
      expect(writes(await rulesOf(watcher, other))).toEqual(["patch omnivisor.io/virtualmachines/status"]);
      expect(writes(await rulesOf(watcher, credentials))).toEqual(["patch omnivisor.io/virtualmachines/status"]);
    });

    it("the manager never lists or watches Secrets, writes only its own webhook Secret by name, and Leases only in the release namespace", async () => {
      expect(secretAccess(await rulesOf(manager, other))).toEqual(["get"]);
      expect(secretAccess(await rulesOf(manager, namespace))).toEqual(["get", `get[${release}-webhook-cert]`, `update[${release}-webhook-cert]`]);
      const elsewhere = writes(await rulesOf(manager, other));
      expect(elsewhere.filter((w) => w.includes("leases") || w.includes("secrets"))).toEqual([]);
      expect(elsewhere).toContain(`patch admissionregistration.k8s.io/validatingwebhookconfigurations[${release}-${namespace}]`);
      expect(elsewhere).toContain("create omnivisor.io/virtualmachines");
      expect(writes(await rulesOf(manager, namespace))).toEqual(expect.arrayContaining(["create coordination.k8s.io/leases", "update coordination.k8s.io/leases"]));
    });
  });

  it("without a cluster-scoped surprise: every object is namespaced to the release or is RBAC, a webhook configuration or a CRD", () => {
    const clusterScoped = rendered.filter((m) => !m.metadata.namespace).map((m) => m.kind);
    expect(new Set(clusterScoped)).toEqual(new Set(["ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"]));
    const elsewhere = rendered.filter((m) => m.metadata.namespace && m.metadata.namespace !== namespace).map((m) => `${m.kind} ${m.metadata.namespace}/${m.metadata.name}`);
    expect(elsewhere).toEqual([`RoleBinding ${credentials}/${release}:status-watcher-credentials`]);
  });
});
