// Scenario: a user runs the embedded default (what `make run` starts), points kubectl at the
// printed kubeconfig, sees the sample VMs Running on the local libvirtd and dockerd, and stops it
// with Ctrl-C: the sample VMs leave the hypervisors and nothing is left running.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { requireDocker, requireLibvirt } from "../harness/services.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";

const run = promisify(execFile);

const demoOnHypervisors = async (): Promise<string[]> => {
  const { stdout: domains } = await run("virsh", ["-q", "-c", "qemu:///system", "list", "--all", "--name"]);
  const { stdout: containers } = await run("docker", ["ps", "-a", "--format", "{{.Names}}"]);
  return [...domains.split("\n"), ...containers.split("\n")].filter((n) => n.startsWith("omnivisor-demo."));
};

it("make run's entry point serves a control plane that kubectl can use, runs the sample VMs, and stops cleanly on Ctrl-C", async () => {
  await requireLibvirt();
  await requireDocker();
  const dir = mkdtempSync(join(tmpdir(), "omnivisor-make-run-"));
  const child = spawn(process.execPath, [join(repoRoot, "src", "cmd", "local.ts"), "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const kubeconfig = await waitFor("the READY line with the kubeconfig path", () => /READY kubeconfig=(\S+)/.exec(out)?.[1], {
      timeoutMs: 90_000,
      onTimeout: () => out,
    });
    expect(kubeconfig).toBe(join(dir, "admin.kubeconfig"));
    const { stdout } = await run(toolchain().kubectl, ["--kubeconfig", kubeconfig, "get", "ns", "-o", "name"]);
    expect(stdout.split("\n")).toContain("namespace/kube-system");
    // the fleet comes up behind the READY line: hosts registered, sample VMs Running, table shown
    await waitFor("the sample VMs Running", () => (out.includes("\nRUNNING") ? true : undefined), { timeoutMs: 180_000, onTimeout: () => out });
    const table = out.slice(out.indexOf("$ kubectl get omnivisor -A"));
    expect(table).toMatch(/host\.omnivisor\.io\/local-libvirt\s+libvirt\s+local\s+local\s+Ready/);
    expect(table).toMatch(/host\.omnivisor\.io\/local-docker\s+docker\s+local\s+local\s+Ready/);
    const vms = table.split("\n").filter((l) => l.startsWith("omnivisor-demo "));
    expect(vms.length).toBeGreaterThanOrEqual(2);
    for (const line of vms) expect(line).toMatch(/\sRunning\s/);
    expect((await demoOnHypervisors()).length).toBe(vms.length);
    // the manager serves the VDCQuota webhook, registered with the control plane's CA: a quota of
    // the three sample VMs refuses a fourth (a dry run: judged, nothing created or charged)
    const kubectl = (args: string[], input?: string): Promise<string> => {
      const child = run(toolchain().kubectl, ["--kubeconfig", kubeconfig, ...args]);
      if (input !== undefined) child.child.stdin?.end(input);
      return child.then((r) => r.stdout, (err: { stderr?: string }) => `FAILED ${err.stderr ?? ""}`);
    };
    expect(await kubectl(["get", "validatingwebhookconfiguration", "omnivisor-vdcquota", "-o", "jsonpath={.webhooks[0].failurePolicy}"])).toBe("Fail");
    await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "omnivisor.io/v1alpha1", kind: "VDCQuota", metadata: { name: "demo", namespace: "omnivisor-demo" }, spec: { hard: { virtualMachines: 3 } } }));
    await waitFor("the demo quota counted", async () => ((await kubectl(["get", "vdcquota", "demo", "-n", "omnivisor-demo", "-o", "jsonpath={.status.used.virtualMachines}"])) === "3" ? true : undefined), { timeoutMs: 30_000 });
    const fourth = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify({ apiVersion: "omnivisor.io/v1alpha1", kind: "VirtualMachine", metadata: { name: "box-4", namespace: "omnivisor-demo" }, spec: { cpus: 1, memory: "64Mi" } }));
    expect(fourth).toContain("namespace omnivisor-demo would use 4 VMs of 3 (VDCQuota demo)");
  } finally {
    child.kill("SIGINT");
  }
  expect(await exited).toBe(0);
  expect(out).toContain("stopped.");
  let left = "";
  try {
    left = execFileSync("pgrep", ["-af", dir], { encoding: "utf8" });
  } catch {
    /* none */
  }
  expect(left).toBe("");
  expect(await demoOnHypervisors()).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
});
