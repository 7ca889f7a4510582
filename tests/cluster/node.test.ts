// The one-node test cluster (tests/harness/test-node.ts) on this machine: the node gets Ready, a
// pod from the locally built test image runs and reaches the API server through the `kubernetes`
// Service IP, a pod's packet to an address outside the machine is dropped here (a hostNetwork
// pod's too), `kubectl logs`
// and `exec` work, kube-proxy serves ClusterIPs, a second node waits, stop() leaves the host as
// it found it, and a node killed with its pods running is cleaned up by the next start.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { hostSnapshot, type HostSnapshot } from "../harness/host-snapshot.ts";
import { kubepodsCgroups } from "../harness/node-host.ts";
import { NODE_LOCK, NodeLock } from "../harness/node-lock.ts";
import { KUBECTL_IMAGE, KUBERNETES_SERVICE_IP, nodeImages, startTestNode, TEST_IMAGE, type TestNode } from "../harness/test-node.ts";

/** TEST-NET-2 (RFC 5737): routed out of eth0 by the default route, owned by nobody. */
const OUTSIDE = "198.51.100.7";

let node: TestNode;
let before: HostSnapshot;
const timings: Record<string, number> = {};
/** Another test file's node (the chart's) may hold the host first: wait as long as the lock does. */
const LOCK_WAIT_MS = 16 * 60_000;

beforeAll(async () => {
  let t0 = 0;
  node = await startTestNode({
    beforeSetup: async () => {
      before = await hostSnapshot();
      t0 = performance.now();
    },
  });
  timings.readyMs = Math.round(performance.now() - t0);
}, LOCK_WAIT_MS);

afterAll(async () => {
  await node?.stop();
  console.log(`test node: Ready ${timings.readyMs} ms after start, stop + host restore ${timings.stopMs ?? "?"} ms`);
});

function pod(name: string, command: string, restartPolicy = "Never", image = TEST_IMAGE): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "main", image, imagePullPolicy: "IfNotPresent", command: ["sh", "-c", command] }],
    },
  });
}

let kubectlImported = false;
async function importKubectlImage(): Promise<void> {
  if (!kubectlImported) await node.importImage((await nodeImages()).kubectl);
  kubectlImported = true;
}

async function podPhase(name: string): Promise<string> {
  return node.controlPlane.kubectl(["get", "pod", name, "-o", "jsonpath={.status.phase}"]);
}

async function waitPhase(name: string, phases: string[]): Promise<string> {
  try {
    return await waitFor(`pod ${name} in ${phases.join(" or ")}`, async () => {
      const phase = await podPhase(name);
      return phases.includes(phase) ? phase : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
  } catch (err) {
    const described = await node.controlPlane.kubectl(["describe", "pod", name]).catch((e: Error) => e.message);
    throw new Error(`${(err as Error).message}\n${described}`);
  }
}

describe("a one-node cluster on this machine", () => {
  it("registers the node and reports it Ready", async () => {
    const out = JSON.parse(await node.controlPlane.kubectl(["get", "node", node.nodeName, "-o", "json"])) as {
      status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
    };
    expect(out.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(out.status.nodeInfo.kubeletVersion).toBe("v1.36.3");
    expect(out.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    // The kubelet set kernel.panic_on_oops=1, kernel.panic=10, vm.overcommit_memory=1 at its
    // start; the harness put the host's values back at once (a shared machine must not reboot on
    // an oops while tests run).
    const tunables = (s: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(s).filter(([k]) => /^(kernel|vm)\./.test(k)));
    expect(tunables((await hostSnapshot()).sysctls)).toEqual(tunables(before.sysctls));
  });

  it("runs a pod that reaches the API server through the kubernetes Service IP", async () => {
    // kubectl in the pod uses the in-cluster config, as an operator does: the Service IP from
    // the environment, the service account's token, and the cluster CA to verify the server.
    await importKubectlImage();
    const script = `echo "service $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; kubectl get --raw /version`;
    await node.controlPlane.kubectl(["apply", "-f", "-"], pod("api-version", script, "Never", KUBECTL_IMAGE));
    expect(await waitPhase("api-version", ["Succeeded", "Failed"])).toBe("Succeeded");
    const logs = await node.controlPlane.kubectl(["logs", "api-version"]);
    expect(logs).toContain(`service ${KUBERNETES_SERVICE_IP}:443`);
    const version = JSON.parse(logs.slice(logs.indexOf("{"))) as { gitVersion: string };
    expect(version.gitVersion).toBe("v1.36.3");
  });

  it("drops a pod's packet to an address outside the machine on this machine", async () => {
    await node.controlPlane.kubectl(["apply", "-f", "-"], pod("egress", "sleep 3600", "Always"));
    expect(await waitPhase("egress", ["Running"])).toBe("Running");
    const droppedBefore = (await node.egressCounters()).podNetwork;
    const attempt = await node.controlPlane.kubectlResult(["exec", "egress", "--", "sh", "-c", `timeout 3 nc ${OUTSIDE} 80 </dev/null && echo CONNECTED`]);
    expect(attempt.stdout).not.toContain("CONNECTED");
    expect(attempt.code).not.toBe(0);
    expect((await node.egressCounters()).podNetwork).toBeGreaterThan(droppedBefore);
  });

  it("drops a hostNetwork pod's packet to an address outside the machine too, and lets it reach the API server's Service", async () => {
    const spec = JSON.parse(pod("egress-hostnet", "sleep 3600", "Always")) as { spec: Record<string, unknown> };
    spec.spec.hostNetwork = true;
    await node.controlPlane.kubectl(["apply", "-f", "-"], JSON.stringify(spec));
    expect(await waitPhase("egress-hostnet", ["Running"])).toBe("Running");
    const droppedBefore = (await node.egressCounters()).hostNetwork;
    const attempt = await node.controlPlane.kubectlResult(["exec", "egress-hostnet", "--", "sh", "-c", `timeout 3 nc ${OUTSIDE} 80 </dev/null && echo CONNECTED`]);
    expect(attempt.stdout).not.toContain("CONNECTED");
    expect(attempt.code).not.toBe(0);
    expect((await node.egressCounters()).hostNetwork).toBeGreaterThan(droppedBefore);
    // The API server stays reachable, through the kubernetes Service IP as from any pod.
    await importKubectlImage();
    const api = JSON.parse(pod("api-version-hostnet", "kubectl get --raw /version", "Never", KUBECTL_IMAGE)) as { spec: Record<string, unknown> };
    api.spec.hostNetwork = true;
    await node.controlPlane.kubectl(["apply", "-f", "-"], JSON.stringify(api));
    expect(await waitPhase("api-version-hostnet", ["Succeeded", "Failed"])).toBe("Succeeded");
    expect((JSON.parse(await node.controlPlane.kubectl(["logs", "api-version-hostnet"])) as { gitVersion: string }).gitVersion).toBe("v1.36.3");
  });

  it("serves kubectl logs and exec through the kubelet", async () => {
    await node.controlPlane.kubectl(["apply", "-f", "-"], pod("talk", "echo hello from the pod; sleep 3600", "Always"));
    expect(await waitPhase("talk", ["Running"])).toBe("Running");
    await waitFor("the pod's first log line", async () => ((await node.controlPlane.kubectl(["logs", "talk"])).includes("hello from the pod") ? true : undefined));
    expect((await node.controlPlane.kubectl(["exec", "talk", "--", "hostname"])).trim()).toBe("talk");
    expect(await node.controlPlane.kubectl(["exec", "-i", "talk", "--", "cat"], "through stdin")).toBe("through stdin");
  });

  it("serves a ClusterIP Service through kube-proxy, to pods and to the host (as the API server calls a webhook)", async () => {
    const web = JSON.parse(pod("web", "mkdir -p /www && echo served-by-web > /www/index.html && httpd -f -p 8080 -h /www", "Always")) as {
      metadata: { labels?: Record<string, string> };
    };
    web.metadata.labels = { app: "web" };
    const service = { apiVersion: "v1", kind: "Service", metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] } };
    await node.controlPlane.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [web, service] }));
    expect(await waitPhase("web", ["Running"])).toBe("Running");
    const ip = await node.controlPlane.kubectl(["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    // before kube-proxy has programmed it (and for a ClusterIP no Service has), the host's packets
    // are routed to cni0, never by the default route out of the machine
    for (const address of [ip, "10.0.0.254"]) expect(execFileSync("ip", ["route", "get", address], { encoding: "utf8" })).toMatch(/ dev cni0 /);
    const fromHost = await waitFor(`http://${ip}/ from the host`, async () => {
      const res = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(2_000) });
      return res.ok ? res.text() : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 }).catch(async (err: Error) => {
      const slices = await node.controlPlane.kubectl(["get", "endpointslices", "-o", "wide"]).catch((e: Error) => e.message);
      throw new Error(`${err.message}\n${slices}\n${node.logTail("kube-proxy")}\n${node.controlPlane.logTail("kube-controller-manager")}`);
    });
    expect(fromHost.trim()).toBe("served-by-web");
    await node.controlPlane.kubectl(["apply", "-f", "-"], pod("web-client", `wget -q -O - http://${ip}/`));
    expect(await waitPhase("web-client", ["Succeeded", "Failed"])).toBe("Succeeded");
    expect((await node.controlPlane.kubectl(["logs", "web-client"])).trim()).toBe("served-by-web");
  });

  it("keeps a second node off the host while it runs (the host-wide lock)", async () => {
    await expect(NodeLock.acquire(1_000, () => {})).rejects.toThrow(`could not take ${NODE_LOCK}`);
  });

  it("restores the host on stop: sysctls, iptables, nfacct, mounts, links, cgroups, paths", async () => {
    const t0 = performance.now();
    await node.stop();
    timings.stopMs = Math.round(performance.now() - t0);
    const after = await hostSnapshot();
    expect(after.sysctls).toEqual(before.sysctls);
    expect(after.iptables).toEqual(before.iptables);
    expect(after.ip6tables).toEqual(before.ip6tables);
    expect(after.mounts).toEqual(before.mounts);
    expect(after.links).toEqual(before.links);
    expect(after.cgroups).toEqual(before.cgroups);
    expect(after.paths).toEqual(before.paths);
    expect(after.nfacct).toEqual(before.nfacct);
  });

  it("cleans up after a node whose process was killed, at the next start", async () => {
    // The lock is held here throughout, so no other node (another test file's) runs in between.
    const lock = await NodeLock.acquire(LOCK_WAIT_MS - 120_000, () => {});
    try {
      await crashThenRestart(lock);
    } finally {
      await lock.release();
    }
    expect(await hostSnapshot()).toEqual(before);
  }, LOCK_WAIT_MS);
});

async function crashThenRestart(lock: NodeLock): Promise<void> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "..", "harness", "node-child.ts")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = once(child, "exit");
  try {
    await waitFor("the child's node to run a pod", () => (output.includes("RUNNING") ? true : undefined), {
      timeoutMs: 120_000, intervalMs: 200, onTimeout: () => output,
    });
  } finally {
    child.kill("SIGKILL"); // the crash (and never a node left running if the wait failed)
    await exited;
  }
  // What a crash leaves: the pod's processes, cni0, the node's chains, the kubepods cgroups.
  const left = await hostSnapshot();
  expect(left.links).toContain("cni0");
  expect(left.iptables.some((l) => l.includes("OMNIVISOR-NODE-EGRESS"))).toBe(true);
  expect(kubepodsCgroups().length).toBeGreaterThan(0);

  const lines: string[] = [];
  const next = await startTestNode({ log: (l) => lines.push(l), hostLock: lock });
  try {
    expect(lines).toContain("cleaning up after an earlier test node");
    await next.controlPlane.kubectl(["apply", "-f", "-"], pod("after-crash", "sleep 3600", "Always"));
    await waitFor("pod after-crash Running", async () =>
      (await next.controlPlane.kubectl(["get", "pod", "after-crash", "-o", "jsonpath={.status.phase}"])) === "Running" ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 250 });
  } finally {
    await next.stop();
  }
}
