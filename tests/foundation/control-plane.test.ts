// Scenario: the local control plane is a real Kubernetes API server. Objects can be created and
// watched; when the API server restarts the watch recovers and misses nothing; garbage collection
// and namespace deletion work (kube-controller-manager); the operator's identity is RBAC-limited;
// stopping leaves no process behind.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { kubeRequest } from "../../src/local/kube-http.ts";
import { waitFor } from "../../src/local/wait.ts";
import { ListWatch } from "../harness/watch.ts";

function processesUnder(dir: string): string[] {
  try {
    return execFileSync("pgrep", ["-af", dir], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe("local control plane", () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await ControlPlane.start({ crdsDir: false });
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it("serves Kubernetes 1.36.3 behind client-certificate authentication", async () => {
    const version = JSON.parse((await kubeRequest(cp.admin, "GET", "/version")).body) as { gitVersion: string };
    expect(version.gitVersion).toBe("v1.36.3");
    expect(await cp.kubectl(["get", "ns", "-o", "name"])).toContain("namespace/default");
  });

  it("garbage-collects owned objects and deletes namespaces (kube-controller-manager)", { timeout: 320_000 }, async () => {
    await cp.kubectl(["create", "namespace", "gc-test"]);
    const owner = JSON.parse(await cp.kubectl(["-n", "gc-test", "create", "configmap", "owner", "-o", "json"])) as {
      metadata: { uid: string };
    };
    await cp.kubectl(["-n", "gc-test", "apply", "-f", "-"], JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "dependent", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid }] },
    }));
    await cp.kubectl(["-n", "gc-test", "delete", "configmap", "owner"]);
    // The garbage collector first builds its dependency graph from every resource type; on a
    // loaded 2-core machine that can take a while, hence the generous bound.
    await waitFor("the dependent ConfigMap to be garbage-collected", async () => {
      const res = await kubeRequest(cp.admin, "GET", "/api/v1/namespaces/gc-test/configmaps/dependent");
      return res.status === 404 ? true : undefined;
    }, { timeoutMs: 150_000, intervalMs: 500, onTimeout: () => cp.logTail("kube-controller-manager") });

    await cp.kubectl(["delete", "namespace", "gc-test", "--wait=false"]);
    await waitFor("namespace gc-test to be deleted", async () => {
      const res = await kubeRequest(cp.admin, "GET", "/api/v1/namespaces/gc-test");
      return res.status === 404 ? true : undefined;
    }, { timeoutMs: 150_000, intervalMs: 500, onTimeout: () => cp.logTail("kube-controller-manager") });
  });

  it("gives the operator and the status watcher separate identities with only the rights each uses, no wildcard (RBAC)", async () => {
    // a SubjectAccessReview per question: exact group / resource / subresource, no discovery needed
    const can = async (who: string, verb: string, what: string): Promise<string> => {
      const [resourceAndGroup, subresource] = what.split("/");
      const dot = resourceAndGroup!.indexOf(".");
      const resource = dot < 0 ? resourceAndGroup! : resourceAndGroup!.slice(0, dot);
      const group = dot < 0 ? "" : resourceAndGroup!.slice(dot + 1);
      const review = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user: who, resourceAttributes: { verb, group, resource, ...(subresource ? { subresource } : {}), namespace: "default" } } };
      const res = await kubeRequest(cp.admin, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review);
      return (JSON.parse(res.body) as { status: { allowed: boolean } }).status.allowed ? "yes" : "no";
    };
    const operator = "omnivisor-operator";
    const watcher = "omnivisor-status-watcher";
    expect(await can(operator, "create", "leases.coordination.k8s.io")).toBe("yes");
    expect(await can(operator, "get", "secrets")).toBe("yes");
    expect(await can(operator, "create", "virtualmachines.omnivisor.io")).toBe("yes");
    expect(await can(operator, "patch", "hosts.omnivisor.io/status")).toBe("yes");
    for (const [verb, resource] of [["list", "secrets"], ["watch", "secrets"], ["delete", "secrets"], ["get", "namespaces"], ["create", "namespaces"], ["create", "events.events.k8s.io"], ["get", "configmaps"]]) {
      expect(await can(operator, verb!, resource!), `operator ${verb} ${resource}`).toBe("no");
    }
    expect(await can(watcher, "watch", "virtualmachines.omnivisor.io")).toBe("yes");
    expect(await can(watcher, "patch", "virtualmachines.omnivisor.io/status")).toBe("yes");
    expect(await can(watcher, "patch", "leases.coordination.k8s.io")).toBe("yes");
    // Secrets only where Host credentials come from: a RoleBinding of omnivisor-host-credentials there
    expect(await can(watcher, "get", "secrets")).toBe("no");
    await cp.kubectl(["create", "namespace", "creds-here"]);
    await cp.kubectl(["create", "rolebinding", "w", "-n", "creds-here", "--clusterrole", "omnivisor-host-credentials", "--user", watcher]);
    const inNs = await kubeRequest(cp.admin, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user: watcher, resourceAttributes: { verb: "get", resource: "secrets", namespace: "creds-here" } } });
    expect((JSON.parse(inNs.body) as { status: { allowed: boolean } }).status.allowed).toBe(true);
    for (const [verb, resource] of [["create", "virtualmachines.omnivisor.io"], ["patch", "virtualmachines.omnivisor.io"], ["patch", "hosts.omnivisor.io/status"], ["delete", "leases.coordination.k8s.io"], ["list", "secrets"], ["create", "vmmigrations.omnivisor.io"]]) {
      expect(await can(watcher, verb!, resource!), `status watcher ${verb} ${resource}`).toBe("no");
    }
    // kubectl auth can-i --list: no wildcard in what either identity is granted (beyond what every authenticated user gets)
    for (const who of [operator, watcher]) {
      const list = (await cp.kubectlResult(["auth", "can-i", "--list", "--as", who])).stdout;
      const granted = list.split("\n").filter((l) => /omnivisor\.io|secrets|leases|events/.test(l));
      expect(granted.length, who).toBeGreaterThan(0);
      for (const line of granted) expect(line, `${who}: ${line}`).not.toMatch(/\*/);
    }
  });

  it("keeps a watch going across an API server restart without missing an object", async () => {
    const first = await kubeRequest(cp.admin, "POST", "/api/v1/namespaces/default/configmaps", {
      metadata: { name: "before-restart" },
      data: { n: "1" },
    });
    expect(first.status).toBe(201);

    const watch = new ListWatch(cp.admin, "/api/v1/namespaces/default/configmaps");
    await watch.start();
    try {
      await kubeRequest(cp.admin, "PUT", "/api/v1/namespaces/default/configmaps/before-restart", {
        metadata: { name: "before-restart" },
        data: { n: "2" },
      });
      await waitFor("MODIFIED before-restart", () =>
        watch.events.some((e) => e.type === "MODIFIED" && e.object.metadata.name === "before-restart") ? true : undefined,
      );

      await cp.restartApiServer();
      // Created right after the restart, possibly before the watch has reconnected. The restarted
      // API server's watch cache starts at a newer resourceVersion, so resuming answers 410 Gone
      // and the watch must relist; either way it must deliver this object exactly once.
      const created = await kubeRequest(cp.admin, "POST", "/api/v1/namespaces/default/configmaps", {
        metadata: { name: "after-restart" },
      });
      expect(created.status).toBe(201);

      await waitFor("ADDED after-restart", () =>
        watch.events.some((e) => e.type === "ADDED" && e.object.metadata.name === "after-restart") ? true : undefined,
      );
      expect(watch.reconnects).toBeGreaterThan(0);
      const ours = watch.events.filter((e) => e.object.metadata.name.endsWith("-restart"));
      expect(ours.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
        "ADDED before-restart",
        "MODIFIED before-restart",
        "ADDED after-restart",
      ]);
    } finally {
      watch.stop();
    }
  });

  it("survives an etcd restart with its data", async () => {
    await cp.restartEtcd();
    const cm = await waitFor("the API server to read from etcd again", async () => {
      const res = await kubeRequest(cp.admin, "GET", "/api/v1/namespaces/default/configmaps/after-restart");
      return res.status === 200 ? res : undefined;
    });
    expect(JSON.parse(cm.body)).toMatchObject({ metadata: { name: "after-restart" } });
  });

  it("stops every process and removes its directory", async () => {
    const dir = cp.dir;
    expect(processesUnder(dir).length).toBeGreaterThanOrEqual(3);
    await cp.stop();
    expect(processesUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
