// Scenario: a user runs the embedded default (what `make run` starts), points kubectl at the
// printed kubeconfig, sees the sample VMs Running on the local libvirtd and dockerd in a first
// table that agrees with itself, applies a VM of their own (applied again: `unchanged`), and stops
// it with Ctrl-C. The VMs run on; `make run` again serves the same objects and picks the VMs up —
// not recreated. `--fresh` starts an empty control plane: the earlier VMs show as orphaned on
// their Host and are left alone until the user adopts one or deletes them on the hypervisor.
// `--reset` removes every VM through the operator and the state.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { requireDocker, requireLibvirt } from "../harness/services.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";

const run = promisify(execFile);
/** The scenario's own demo namespace: a real `make run` on this machine keeps its omnivisor-demo VMs on the same hypervisors. */
const demo = "omnivisor-demo-scenario";
const dir = mkdtempSync(join(tmpdir(), "omnivisor-make-run-"));
const kubeconfig = join(dir, "admin.kubeconfig");
const kubectl = async (...args: string[]): Promise<string> => (await run(toolchain().kubectl, ["--kubeconfig", kubeconfig, ...args])).stdout;

const demoOnHypervisors = async (): Promise<string[]> => {
  const { stdout: domains } = await run("virsh", ["-q", "-c", "qemu:///system", "list", "--all", "--name"]);
  const { stdout: containers } = await run("docker", ["ps", "-a", "--format", "{{.Names}}"]);
  return [...domains.split("\n"), ...containers.split("\n")].filter((n) => n.startsWith(`${demo}.`)).sort();
};

/** When each demo VM last started, as the hypervisors say (a recreated or restarted VM changes it). */
const startTimes = async (): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const name of await demoOnHypervisors()) {
    if (name === `${demo}.tiny-vm`) {
      const pid = (await run("cat", [`/run/libvirt/qemu/${demo}.tiny-vm.pid`]).catch(() => ({ stdout: "" }))).stdout.trim();
      const { stdout: uuid } = await run("virsh", ["-q", "-c", "qemu:///system", "domuuid", name]);
      out[name] = `${uuid.trim()} pid ${pid}`;
    } else {
      const { stdout } = await run("docker", ["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name]);
      out[name] = stdout.trim();
    }
  }
  return out;
};

const mine = `apiVersion: omnivisor.io/v1alpha1
kind: VirtualMachine
metadata:
  name: mine
  namespace: ${demo}
spec:
  cpus: 1
  memory: 64Mi
  disks:
    - name: root
      image: busybox:local
  powerOff:
    mode: Hard
  placement:
    driver: docker
`;
const mineFile = join(dir, "mine.yaml");

/** The running `make run`, stopped by afterAll if a failure left it running. */
let current: Started | undefined;

interface Started {
  out: () => string;
  stop: () => Promise<number | null>;
}

async function makeRun(...flags: string[]): Promise<Started> {
  const child = spawn(process.execPath, [join(repoRoot, "src", "cmd", "local.ts"), "--dir", dir, ...flags], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OMNIVISOR_DEMO_NAMESPACE: demo } });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const started: Started = {
    out: () => out,
    stop: async () => {
      child.kill("SIGINT");
      const code = await exited;
      if (current === started) current = undefined;
      return code;
    },
  };
  current = started;
  try {
    const path = await waitFor("the READY line with the kubeconfig path", () => /READY kubeconfig=(\S+)/.exec(out)?.[1], { timeoutMs: 90_000, onTimeout: () => out });
    expect(path).toBe(kubeconfig);
    await waitFor("the first table (RUNNING)", () => (out.includes("\nRUNNING") ? true : undefined), { timeoutMs: 240_000, onTimeout: () => out });
  } catch (err) {
    await started.stop();
    throw err;
  }
  return started;
}

const table = (out: string): string => out.slice(out.lastIndexOf("$ kubectl get omnivisor -A"));
const rows = (t: string, prefix: string): string[] => t.split("\n").filter((l) => l.startsWith(prefix));

afterAll(async () => {
  await current?.stop();
  // whatever a failed run left: the demo namespace's VMs on the hypervisors, and the state
  for (const name of await demoOnHypervisors().catch(() => [])) {
    if (name === `${demo}.tiny-vm`) {
      await run("virsh", ["-c", "qemu:///system", "destroy", name]).catch(() => undefined);
      await run("virsh", ["-c", "qemu:///system", "undefine", name, "--remove-all-storage", "--nvram"]).catch(() => undefined);
    } else await run("docker", ["rm", "-f", name]).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

it("make run keeps its state across restarts: a user's VM is still there and Running, not recreated; --fresh shows the old VMs as orphaned and leaves them alone; --reset removes them", async () => {
  await requireLibvirt();
  await requireDocker();
  // first start: samples, and a first table whose rollups agree with the VMs it shows
  let running = await makeRun();
  try {
    const { stdout } = await run(toolchain().kubectl, ["--kubeconfig", kubeconfig, "get", "ns", "-o", "name"]);
    expect(stdout.split("\n")).toContain("namespace/kube-system");
    const first = table(running.out());
    expect(first).toMatch(/host\.omnivisor\.io\/local-libvirt\s+libvirt\s+local\s+local\s+Ready/);
    expect(first).toMatch(/host\.omnivisor\.io\/local-docker\s+docker\s+local\s+local\s+Ready/);
    const vms = rows(first, `${demo} `);
    expect(vms).toHaveLength(3);
    for (const line of vms) expect(line).toMatch(/\sRunning\s/);
    expect(first).toMatch(/datacenter\.omnivisor\.io\/local\s+1\s+2\s+2\s+3\s+True/);
    expect(first).toMatch(/hostpool\.omnivisor\.io\/local\s+local\s+2\s+2\s+3\s+True/);
    expect(await demoOnHypervisors()).toHaveLength(3);

    // the manager serves the VDCQuota webhook, registered with the control plane's CA: a quota of
    // the three sample VMs refuses a fourth (a dry run: judged, nothing created or charged)
    const kubectlOut = (args: string[], input?: string): Promise<string> => {
      const child = run(toolchain().kubectl, ["--kubeconfig", kubeconfig, ...args]);
      if (input !== undefined) child.child.stdin?.end(input);
      return child.then((r) => r.stdout, (err: { stderr?: string }) => `FAILED ${err.stderr ?? ""}`);
    };
    expect(await kubectlOut(["get", "validatingwebhookconfiguration", "omnivisor-vdcquota", "-o", "jsonpath={.webhooks[0].failurePolicy}"])).toBe("Fail");
    await kubectlOut(["apply", "-f", "-"], JSON.stringify({ apiVersion: "omnivisor.io/v1alpha1", kind: "VDCQuota", metadata: { name: "demo", namespace: demo }, spec: { hard: { virtualMachines: 3 } } }));
    await waitFor("the demo quota counted", async () => ((await kubectlOut(["get", "vdcquota", "demo", "-n", demo, "-o", "jsonpath={.status.used.virtualMachines}"])) === "3" ? true : undefined), { timeoutMs: 30_000 });
    const fourth = await kubectlOut(["create", "--dry-run=server", "-f", "-"], JSON.stringify({ apiVersion: "omnivisor.io/v1alpha1", kind: "VirtualMachine", metadata: { name: "box-4", namespace: demo }, spec: { cpus: 1, memory: "64Mi" } }));
    expect(fourth).toContain(`namespace ${demo} would use 4 VMs of 3 (VDCQuota demo)`);
    await kubectlOut(["delete", "vdcquota", "demo", "-n", demo]);

    // a VM of the user's own; applied again unchanged once it runs
    writeFileSync(mineFile, mine);
    expect(await kubectl("apply", "-f", mineFile)).toContain("virtualmachine.omnivisor.io/mine created");
    await waitFor("the user's VM Running", async () => ((await kubectl("get", "ovm", "-n", demo, "mine", "-o", "jsonpath={.status.phase}")) === "Running" ? true : undefined), { timeoutMs: 120_000 });
    expect((await kubectl("apply", "-f", mineFile)).trim()).toBe("virtualmachine.omnivisor.io/mine unchanged");
  } finally {
    expect(await running.stop()).toBe(0);
  }
  expect(running.out()).toContain("stopped. The VMs keep running");
  const before = await startTimes();
  expect(Object.keys(before)).toEqual([`${demo}.box-1`, `${demo}.box-2`, `${demo}.mine`, `${demo}.tiny-vm`]);
  const ids = await kubectlIdsFromHypervisors();
  let left = "";
  try {
    left = execFileSync("pgrep", ["-af", dir], { encoding: "utf8" });
  } catch {
    /* none */
  }
  expect(left).toBe("");

  // second start: the same objects, the same VMs — found, not recreated, not restarted
  running = await makeRun();
  try {
    const again = table(running.out());
    expect(running.out()).toContain("finding the VMs kept from the last run");
    const vms = rows(again, `${demo} `);
    expect(vms).toHaveLength(4);
    for (const line of vms) expect(line).toMatch(/\sRunning\s/);
    expect(again).toMatch(/datacenter\.omnivisor\.io\/local\s+1\s+2\s+2\s+4\s+True/);
    const external = JSON.parse(await kubectl("get", "ovm", "-n", demo, "-o", "json")) as { items: { metadata: { name: string }; status: { externalId: string } }[] };
    expect(Object.fromEntries(external.items.map((v) => [v.metadata.name, v.status.externalId]))).toEqual(ids);
    expect(await startTimes()).toEqual(before);
    expect((await kubectl("apply", "-f", mineFile)).trim()).toBe("virtualmachine.omnivisor.io/mine unchanged");
  } finally {
    expect(await running.stop()).toBe(0);
  }

  // --fresh: an empty control plane; the four VMs are orphans on their Hosts, left alone
  running = await makeRun("--fresh");
  try {
    expect(rows(table(running.out()), `${demo} `)).toEqual([]);
    const hosts = JSON.parse(await kubectl("get", "ohost", "-o", "json")) as { items: { metadata: { name: string }; status: { virtualMachines?: { managed?: number; orphaned?: number }; orphanedVms?: { name: string; uid?: string; namespace?: string; virtualMachine?: string; externalId: string }[] } }[] };
    const byName = Object.fromEntries(hosts.items.map((h) => [h.metadata.name, h.status]));
    // (other scenarios share these hypervisors: their VMs are orphans from here too — look at the demo's)
    const demoOrphans = (host: string): string[] => (byName[host]?.orphanedVms ?? []).filter((o) => o.namespace === demo).map((o) => o.virtualMachine ?? "?");
    expect(demoOrphans("local-docker")).toEqual(["box-1", "box-2", "mine"]);
    expect(demoOrphans("local-libvirt")).toEqual(["tiny-vm"]);
    expect(byName["local-docker"]?.virtualMachines?.managed).toBe(0);
    expect(byName["local-libvirt"]?.virtualMachines?.managed).toBe(0);
    expect(byName["local-docker"]?.virtualMachines?.orphaned).toBeGreaterThanOrEqual(3);
    expect(table(running.out())).toMatch(/datacenter\.omnivisor\.io\/local\s+1\s+2\s+2\s+0\s+True/);
    const events = await kubectl("get", "events", "-A", "--field-selector", "reason=OrphanedVMs", "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}");
    expect(events).toMatch(/have no VirtualMachine any more/);
    expect(await startTimes()).toEqual(before);

    // the user adopts one orphan explicitly: managed again, in place
    const orphan = byName["local-docker"]!.orphanedVms!.find((o) => o.virtualMachine === "mine")!;
    writeFileSync(join(dir, "adopt.yaml"), `apiVersion: omnivisor.io/v1alpha1\nkind: VirtualMachine\nmetadata:\n  name: mine-again\n  namespace: ${demo}\nspec:\n  adopt:\n    host: local-docker\n    externalId: ${orphan.externalId}\n`);
    await kubectl("apply", "-f", join(dir, "adopt.yaml"));
    let seen = "";
    await waitFor("the adopted orphan Running and managed", async () => {
      seen = await kubectl("get", "ovm", "-n", demo, "mine-again", "-o", "jsonpath={.status}");
      const phase = await kubectl("get", "ovm", "-n", demo, "mine-again", "-o", "jsonpath={.status.phase}");
      const orphans = await kubectl("get", "ohost", "local-docker", "-o", "jsonpath={range .status.orphanedVms[*]}{.namespace}/{.virtualMachine} {end}");
      const managed = await kubectl("get", "ohost", "local-docker", "-o", "jsonpath={.status.virtualMachines.managed}");
      return phase === "Running" && managed === "1" && !orphans.includes(`${demo}/mine `) ? true : undefined;
    }, { timeoutMs: 120_000, onTimeout: () => seen });
    expect((await startTimes())[`${demo}.mine`]).toBe(before[`${demo}.mine`]);
    // Docker cannot relabel a container: the old uid is remembered for the lookups that follow
    expect(await kubectl("get", "ovm", "-n", demo, "mine-again", "-o", "jsonpath={.status.adoptedFromUid}")).toBe(orphan.uid);
  } finally {
    expect(await running.stop()).toBe(0);
  }

  // --reset: the adopted VM leaves the hypervisor through the operator; the state is gone
  const reset = spawn(process.execPath, [join(repoRoot, "src", "cmd", "local.ts"), "--dir", dir, "--reset"], { stdio: ["ignore", "pipe", "pipe"] });
  let resetOut = "";
  reset.stdout.setEncoding("utf8").on("data", (c: string) => (resetOut += c));
  reset.stderr.setEncoding("utf8").on("data", (c: string) => (resetOut += c));
  expect(await new Promise<number | null>((resolve) => reset.once("exit", resolve)), resetOut).toBe(0);
  expect(resetOut).toContain("reset: no VMs and no state left");
  expect(await demoOnHypervisors()).toEqual([`${demo}.box-1`, `${demo}.box-2`, `${demo}.tiny-vm`]);
}, 600_000);

/** The hypervisors' ids of the demo VMs, by VirtualMachine name (what status.externalId should say). */
async function kubectlIdsFromHypervisors(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await demoOnHypervisors()) {
    const short = name.slice(`${demo}.`.length);
    if (name === `${demo}.tiny-vm`) out[short] = (await run("virsh", ["-q", "-c", "qemu:///system", "domuuid", name])).stdout.trim();
    else out[short] = (await run("docker", ["inspect", "-f", "{{.Id}}", name])).stdout.trim();
  }
  return out;
}
