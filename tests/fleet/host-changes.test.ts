// Scenario: what a Host's own changes do to its VMs. Two private libvirtds (libvirt's test driver,
// over TCP on loopback) stand for two machines; a Host points at the first, with a VM on it.
//   when  the Host's endpoint is changed to the second, empty machine
//   then  nothing is created there: the VM says it is missing at the new endpoint and how to ask
//         for it; once the user annotates omnivisor.io/recreate-at=<the new endpoint>, it is;
//   when  the Host is deleted while the VM is on it
//   then  it stays, Deleting=True naming the VM, and takes no new VMs; once the VM is deleted,
//         the Host goes too.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { startSimulatedHost, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `hc-${run}`;
const dc = `hc-${run}-dc`;
const hostName = `hc-${run}-host`;
const daemons: (PrivateLibvirtd & { tcpUri: string })[] = [];
let operator: Operator | undefined;

const logs = (): string => warnings(operator);
const vm = (name: string) => getObject(admin, "virtualmachines.omnivisor.io", name, ns);
const host = () => getObject(admin, "hosts.omnivisor.io", hostName);

const hostAt = (endpoint: string) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "Host", metadata: { name: hostName, labels: scenarioLabel(ns) }, spec: { datacenter: dc, driver: "libvirt", endpoint } });
const vmOnHost = (name: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts: [hostName] } },
});

/** Whether the manager's status watcher logged a report of the VM as Unknown. */
const reportedUnknown = (name: string): boolean =>
  (operator?.output.join("") ?? "")
    .split("\n")
    .filter((line) => line.includes("reported VM state"))
    .some((line) => {
      const r = JSON.parse(line) as { vm?: string; powerState?: string };
      return r.vm === `${ns}/${name}` && r.powerState === "Unknown";
    });

/** Our domains on a machine (named <namespace>.<vm>). */
async function domains(daemon: { tcpUri: string }): Promise<string[]> {
  const { stdout } = await execute("virsh", ["-c", daemon.tcpUri, "list", "--all", "--name"]);
  return stdout.split("\n").map((s) => s.trim()).filter((n) => n.startsWith(`${ns}.`));
}

async function readyWith(name: string, check: (o: Obj) => boolean, what: string): Promise<Obj> {
  return waitFor(`${name}: ${what}`, async () => {
    const got = await vm(name);
    return got && check(got) ? got : undefined;
  }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
}

beforeAll(async () => {
  await requireLibvirt();
  for (const label of ["first", "second"]) {
    daemons.push(await startSimulatedHost(`hc-${run}-${label}`));
  }
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(admin, { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } }, hostAt(daemons[0]!.tcpUri), vmOnHost("web"));
  operator = startScopedOperator(operatorKubeconfig, ns);
});

afterAll(async () => {
  await endScenario(admin, ns, `hc-${run}`, operator);
  for (const d of daemons) await d.stop();
});

describe("a Host's endpoint changes, and the Host is deleted", () => {
  it("given a VM running at the first machine, when the Host's endpoint moves to an empty machine, then nothing is created there until the user asks", async () => {
    const [first, second] = [daemons[0]!, daemons[1]!];
    const running = await readyWith("web", (o) => condition(o, "Ready")?.status === "True" && o.status?.host === hostName, "Running");
    expect(running.status?.hostEndpoint).toBe(first.tcpUri);
    expect(await domains(first)).toEqual([`${ns}.web`]);

    await apply(admin, hostAt(second.tcpUri));
    const missing = await readyWith("web", (o) => condition(o, "Ready")?.reason === "MissingAtNewEndpoint", "missing at the new endpoint");
    expect(condition(missing, "Ready")?.message).toContain(`omnivisor.io/recreate-at=${second.tcpUri}`);
    expect(condition(missing, "Created")?.status).toBe("True");
    // the host's status watcher, restarted on the new endpoint, reported the VM it no longer lists
    await waitFor("the watcher reporting web Unknown", () => (reportedUnknown("web") ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    // the Host's own passes (it reconnects to the new endpoint) and the VM's retries create nothing
    await waitFor("the Host connected at its new endpoint", async () => {
      const h = await host();
      const observed = (h?.status as { observedGeneration?: number } | undefined)?.observedGeneration;
      return condition(h, "Reachable")?.status === "True" && observed === (h?.metadata as { generation?: number } | undefined)?.generation ? h : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await domains(second), "domains of ours at the new endpoint").toEqual([]);
    expect(condition(await vm("web"), "Ready")?.reason).toBe("MissingAtNewEndpoint");

    await kubectl(admin, ["annotate", "virtualmachines.omnivisor.io", "web", "-n", ns, `omnivisor.io/recreate-at=${second.tcpUri}`]);
    const recreated = await readyWith("web", (o) => condition(o, "Ready")?.status === "True", "Running at the new endpoint");
    expect(recreated.status?.hostEndpoint).toBe(second.tcpUri);
    expect(await domains(second)).toEqual([`${ns}.web`]);
  });

  it("when the Host is deleted with a VM on it, then it waits with a condition naming the VM, takes no new VMs, and goes once the VM is gone", async () => {
    await kubectl(admin, ["delete", "hosts.omnivisor.io", hostName, "--wait=false"]);
    const waiting = await waitFor("Deleting=True on the Host", async () => {
      const h = await host();
      return condition(h, "Deleting")?.status === "True" ? h : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(condition(waiting, "Deleting")).toMatchObject({ reason: "VirtualMachinesOnHost" });
    expect(condition(waiting, "Deleting")?.message).toContain(`1 VirtualMachine is still on this host (${ns}/web)`);
    expect(condition(waiting, "Ready")).toMatchObject({ status: "False", reason: "Deleting" });

    await apply(admin, vmOnHost("late"));
    const pending = await readyWith("late", (o) => condition(o, "Scheduled")?.status === "False", "not scheduled");
    expect(pending.status?.host).toBeUndefined();
    expect(await host(), "the Host is still there").toBeDefined();

    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "web", "late", "-n", ns, "--wait=true", "--timeout=60s"]);
    await waitFor("the Host removed", async () => ((await host()) === undefined ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(await domains(daemons[1]!), "the VM left its host before the Host went").toEqual([]);
  });
});
