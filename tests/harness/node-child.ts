// A test node in a child process, for the crash scenario: starts a node, runs a pod, prints
// RUNNING and waits to be killed (kill -9 leaves the pod, shims, mounts, cni0, iptables rules and
// cgroups behind, as a crashed test run would). The test that starts it holds the host lock.
import { waitFor } from "../../src/local/wait.ts";
import { NodeLock } from "./node-host.ts";
import { startTestNode, TEST_IMAGE } from "./test-node.ts";

const node = await startTestNode({ hostLock: NodeLock.heldByParent() });
const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "left-behind" }, spec: { containers: [{ name: "main", image: TEST_IMAGE, command: ["sleep", "3600"] }] } };
await node.controlPlane.kubectl(["apply", "-f", "-"], JSON.stringify(pod));
await waitFor("pod left-behind Running", async () =>
  (await node.controlPlane.kubectl(["get", "pod", "left-behind", "-o", "jsonpath={.status.phase}"])) === "Running" ? true : undefined,
  { timeoutMs: 60_000, intervalMs: 250 });
process.stdout.write("RUNNING\n");
setInterval(() => {}, 60_000);
