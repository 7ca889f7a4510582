// Scenario: a VM moves between two libvirt hosts through the operator (issue #20). Two private
// libvirtds (own mount namespaces, own host UUIDs) listen on loopback TCP and share one storage
// pool directory (as NFS would be), registered as Hosts that name the same shared storage. The
// guest is the tiny VM with 256 MiB, which keeps dirtying memory and prints a heartbeat a second.
//   given  the VM running on host A, and host B joining later
//   when   a VMMigration asks for it to move (no target: placement picks B), with a bandwidth limit
//   then   it runs on B with the same domain UUID, its heartbeats go on (no reboot), progress was
//          seen mid-flight, no poll (every 100 ms) saw it running twice or nowhere, status.host is
//          B, and `kubectl diff` of the VM's manifest is still empty;
//   when   a move back is deleted mid-flight
//   then   the hypervisor's job is aborted, the VM runs on B as before, and Cancelled is recorded;
//   given  six more VMs on B, one of them pinned there by placement.hosts
//   when   B goes into maintenance (drainPolicy Migrate)
//   then   the others leave for A by live migration, at most two at a time, none ever seen
//          stopped; the pinned one is named in the Maintenance condition and keeps running; once
//          it is deleted the host is InMaintenance;
//   when   ten VMs are moved back at once and the manager is killed (-9) three times meanwhile
//   then   after its restart every VM runs on exactly one host and every VMMigration ends —
//          Succeeded, or Failed naming why; none is stuck.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { LibvirtDriver, type LibvirtSession } from "../../drivers/libvirt/index.ts";
import { freePort } from "../../src/local/ports.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";
import { imageUpload } from "../harness/image-upload.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { idleVmImage, requireLibvirt, tinyVmImage } from "../harness/services.ts";
import { apply, condition, endScenario, getObject, kubectl, scenarioLabel, startScopedOperator, warnings, type Obj, type Operator } from "../lifecycle/fixtures.ts";

const execute = promisify(execFile);
const admin = inject("kubeconfig");
const operatorKubeconfig = inject("operatorKubeconfig");
const run = randomBytes(3).toString("hex");
const ns = `mv-${run}`;
const dc = `mv-${run}-dc`;
const diskDir = join(tmpdir(), `omni-moves-${run}`);
const hostA = `mv-${run}-a`;
const hostB = `mv-${run}-b`;
const domain = `${ns}.web`;
let a: PrivateLibvirtd;
let b: PrivateLibvirtd;
const endpoints = new Map<string, string>();
let operator: Operator | undefined;
/** Every operator process's output, the killed ones' too (written to a file at the end). */
const outputs: string[][] = [];
/** KVM where it boots a stock guest; on kvm_pvm it emulates one slower than TCG (ADR 0003). */
let virtType = "qemu";

const logs = (): string => warnings(operator);
const virsh = async (daemon: string, ...args: string[]): Promise<string> => (await execute("virsh", ["-q", "-c", endpoints.get(daemon)!, ...args])).stdout.trim();

const host = (name: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name, labels: scenarioLabel(ns), annotations: { "libvirt.omnivisor.io/storage-pool": "shared", "libvirt.omnivisor.io/shared-storage": `moves-${run}`, "libvirt.omnivisor.io/virt-type": virtType } },
  // 2 cores here: room for a dozen one-CPU guests that mostly idle
  spec: { datacenter: dc, driver: "libvirt", endpoint: endpoints.get(name)!, cpuOvercommit: 8 },
});
const web = {
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "web", namespace: ns },
  // the scenario's datacenter only: Hosts are cluster-wide, other scenarios' hosts are no place for it
  spec: { cpus: 1, memory: "256Mi", disks: [{ name: "root", image: "tiny", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { datacenter: dc } },
};
const migration = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VMMigration", metadata: { name, namespace: ns }, spec: { virtualMachine: "web", ...spec } });
const getMigration = (name: string) => getObject(admin, "vmmigrations.omnivisor.io", name, ns);
const vm = (name = "web") => getObject(admin, "virtualmachines.omnivisor.io", name, ns);
const idle = (name: string, hosts: string[]) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: ns },
  spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", image: "idle", size: "1Gi" }], networks: [], powerOff: { mode: "Hard", timeoutSeconds: 5 }, placement: { hosts } },
});

/** The domain's state on a host ("running", "paused", "shut off"), undefined where it is not defined. */
async function state(daemon: string): Promise<string | undefined> {
  try {
    return await virsh(daemon, "domstate", domain);
  } catch {
    return undefined;
  }
}

/** A VM's domain state on a host, undefined where it is not defined. */
async function virshState(daemon: string, name: string): Promise<string | undefined> {
  try {
    return await virsh(daemon, "domstate", `${ns}.${name}`);
  } catch {
    return undefined;
  }
}

/** The heartbeat numbers the guest printed on a host's serial console. */
async function heartbeats(daemon: PrivateLibvirtd): Promise<number[]> {
  const text = await readFile(join(daemon.dir, "log", "qemu", `${domain}-console.log`), "utf8").catch(() => "");
  return [...text.matchAll(/omnivisor-tiny-vm: heartbeat (\d+)/g)].map((m) => Number(m[1]));
}

interface Watch {
  stop(): Promise<{ polls: { a?: string; b?: string }[]; migrations: Obj[] }>;
}

/** Polls both hosts every 100 ms and the VMMigration as often as kubectl answers. */
function watch(name: string): Watch {
  let on = true;
  const polls: { a?: string; b?: string }[] = [];
  const migrations: Obj[] = [];
  const hosts = (async () => {
    while (on) {
      const [sa, sb] = await Promise.all([state(hostA), state(hostB)]);
      polls.push({ ...(sa ? { a: sa } : {}), ...(sb ? { b: sb } : {}) });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const statuses = (async () => {
    while (on) {
      const m = await getMigration(name);
      if (m) migrations.push(m);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      on = false;
      await Promise.all([hosts, statuses]);
      return { polls, migrations };
    },
  };
}

const progressOf = (m: Obj): { percent?: number; memoryTotalBytes?: number } | undefined => (m.status as { progress?: { percent?: number; memoryTotalBytes?: number } } | undefined)?.progress;

beforeAll(async () => {
  virtType = (await requireLibvirt()).virtType;
  const image = tinyVmImage();
  await mkdir(diskDir, { recursive: true });
  // libvirt refuses 127.0.0.1 as migration_host ("the address of the local machine"); another
  // loopback address keeps the migration stream on loopback.
  const qemuConf = (min: number) => [`migration_address = "127.0.0.2"`, `migration_host = "127.0.0.2"`, `migration_port_min = ${min}`, `migration_port_max = ${min + 49}`];
  const [portA, portB] = [await freePort(), await freePort()];
  [a, b] = await Promise.all([
    startPrivateLibvirtd(`mv-a-${run}`, { tcp: { address: "127.0.0.1", port: portA }, qemuConf: qemuConf(49400), pools: [{ name: "shared", path: diskDir }] }),
    startPrivateLibvirtd(`mv-b-${run}`, { tcp: { address: "127.0.0.1", port: portB }, qemuConf: qemuConf(49450), pools: [{ name: "shared", path: diskDir }] }),
  ]);
  endpoints.set(hostA, `qemu+tcp://127.0.0.1:${portA}/system`);
  endpoints.set(hostB, `qemu+tcp://127.0.0.1:${portB}/system`);
  const session = (await new LibvirtDriver().connect({ endpoint: endpoints.get(hostA)!, libvirt: { storagePool: "shared" } }, undefined, AbortSignal.timeout(15_000))) as LibvirtSession;
  try {
    await session.uploadImage("tiny-vm", await imageUpload(image));
    await session.uploadImage("idle-vm", await imageUpload(idleVmImage()));
  } finally {
    await session.close();
  }
  await virsh(hostB, "pool-refresh", "shared");
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "libvirt storage pools" }, images: [{ name: "tiny", sources: { libvirt: "tiny-vm" } }, { name: "idle", sources: { libvirt: "idle-vm" } }] } },
    host(hostA),
    web,
  );
  operator = startScopedOperator(operatorKubeconfig, ns);
  outputs.push(operator.output);
}, 180_000);

afterAll(async () => {
  await endScenario(admin, ns, `mv-${run}`, operator);
  await writeFile(join(tmpdir(), `omni-moves-${run}-operator.log`), outputs.map((o) => o.join("")).join("\n----- restarted -----\n")).catch(() => undefined);
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(diskDir, { recursive: true, force: true });
});

describe("moving a VM between libvirt hosts with a VMMigration", () => {
  it("given a running VM on host A and host B joining, when a VMMigration asks, then it runs on B live: same UUID, no reboot, progress seen, never twice, no drift", async () => {
    const placed = await waitFor("web Running on host A", async () => {
      const got = await vm();
      return got?.status?.host === hostA && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 120_000, intervalMs: 300, onTimeout: logs });
    expect(placed.status?.powerState).toBe("Running");
    await waitFor("the guest's heartbeats on host A", async () => ((await heartbeats(a)).length >= 3 ? true : undefined), { timeoutMs: 90_000, intervalMs: 500, onTimeout: logs });
    const uuid = await virsh(hostA, "domuuid", domain);

    await apply(admin, host(hostB));
    await waitFor("host B Ready", async () => (condition(await getObject(admin, "hosts.omnivisor.io", hostB), "Ready")?.status === "True" ? true : undefined), { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });

    const watching = watch("to-b");
    await apply(admin, migration("to-b", { bandwidthMiBps: 32 }));
    const done = await waitFor("VMMigration to-b Succeeded", async () => {
      const m = await getMigration("to-b");
      if (m?.status?.phase === "Failed") throw new Error(`the migration failed: ${condition(m, "Ready")?.message ?? "?"}`);
      return m?.status?.phase === "Succeeded" ? m : undefined;
    }, { timeoutMs: 180_000, intervalMs: 200, onTimeout: logs });
    const beforeOnA = await heartbeats(a);
    const { polls, migrations } = await watching.stop();

    expect(done.status).toMatchObject({ sourceHost: hostA, targetHost: hostB, mode: "Live", phase: "Succeeded" });
    expect(done.status?.["startedAt"]).toBeDefined();
    expect(done.status?.["completedAt"]).toBeDefined();
    expect(condition(done, "Ready")).toMatchObject({ status: "True", reason: "Succeeded" });
    // progress was reported while it ran, not only at the end
    const midFlight = migrations.filter((m) => m.status?.phase === "Running" && (progressOf(m)?.percent ?? 0) > 0 && (progressOf(m)?.percent ?? 100) < 100);
    expect(midFlight.length, "VMMigration statuses with progress between 0 and 100 %").toBeGreaterThan(0);
    expect(progressOf(midFlight[0]!)?.memoryTotalBytes).toBeGreaterThan(0);
    // at every poll: running on at most one host, and defined on at least one
    expect(polls.length).toBeGreaterThan(10);
    for (const p of polls) {
      expect([p.a, p.b].filter((s) => s === "running").length, `running copies at one poll: ${JSON.stringify(p)}`).toBeLessThanOrEqual(1);
      expect(p.a ?? p.b, `a poll that found the VM nowhere: ${JSON.stringify(p)}`).toBeDefined();
    }
    // the same domain, on B only, with its guest still counting
    expect(await virsh(hostB, "domuuid", domain)).toBe(uuid);
    expect(await state(hostA)).toBeUndefined();
    expect(await state(hostB)).toBe("running");
    const lastOnA = Math.max(...beforeOnA);
    const onB = await waitFor("heartbeats on host B", async () => {
      const beats = await heartbeats(b);
      return beats.length >= 2 ? beats : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, onTimeout: logs });
    expect(onB[0], "the first heartbeat on B follows the last on A: the guest was not rebooted").toBeGreaterThan(lastOnA - 5);
    expect(await readFile(join(b.dir, "log", "qemu", `${domain}-console.log`), "utf8")).not.toContain("booted kernel");

    const moved = await waitFor("web Ready on host B", async () => {
      const got = await vm();
      return got?.status?.host === hostB && condition(got, "Ready")?.status === "True" ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, onTimeout: logs });
    expect(moved.metadata.uid).toBe(placed.metadata.uid);
    expect(condition(moved, "Migrating")).toMatchObject({ status: "False", reason: "Moved" });
    // the source's pause at the switch-over is not the VM's state: the status watcher said nothing of it
    const paused = (operator?.output.join("") ?? "").split("\n").filter((l) => l.includes("reported VM state") && l.includes(`"vm":"${ns}/web"`) && l.includes('"powerState":"Paused"'));
    expect(paused, "status watcher reports of web as Paused").toEqual([]);
    expect(await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=web,reason=Migrated", "-o", "jsonpath={.items[*].message}"])).toContain(`moved from host ${hostA} to host ${hostB} by VMMigration to-b`);
    // the user's manifest still matches what is stored: nothing the operator wrote shows as drift
    const manifest = join(diskDir, "web.yaml");
    await writeFile(manifest, stringify(web));
    // kubectl diff exits 1 when it finds a difference: execFile then rejects with its output
    const diff = await execute(toolchain().kubectl, ["--kubeconfig", admin, "diff", "-f", manifest]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(diff.stdout, "kubectl diff of the VM's manifest").toBe("");
    expect(diff.code).toBe(0);
  });

  it("when a move back is deleted mid-flight, then the job is aborted, the VM runs on B as before, and Cancelled is recorded", async () => {
    const watching = watch("back");
    await apply(admin, migration("back", { targetHost: hostA, bandwidthMiBps: 4 }));
    await waitFor("the move back under way", async () => {
      const m = await getMigration("back");
      if (m?.status?.phase === "Failed" || m?.status?.phase === "Succeeded") throw new Error(`the move back ended before it could be cancelled: ${m.status.phase} (${condition(m, "Ready")?.message ?? "?"})`);
      return m?.status?.phase === "Running" && (progressOf(m)?.percent ?? 0) > 0 ? m : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, onTimeout: logs });
    await kubectl(admin, ["delete", "vmmigrations.omnivisor.io", "back", "-n", ns, "--wait=true", "--timeout=60s"]);
    const { polls } = await watching.stop();

    expect(await state(hostB)).toBe("running");
    expect(await state(hostA), "nothing left on host A").toBeUndefined();
    for (const p of polls) expect([p.a, p.b].filter((s) => s === "running").length, `running copies at one poll: ${JSON.stringify(p)}`).toBeLessThanOrEqual(1);
    const events = await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=back,involvedObject.kind=VMMigration", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"]);
    expect(events).toMatch(/^Cancelled: .*the VM stays on host mv-\w+-b/m);
    const after = await vm();
    expect(after?.status?.host).toBe(hostB);
    expect(condition(after, "Ready")?.status).toBe("True");
  });

  it("given six VMs on host B, one pinned there, when B goes into maintenance, then the others leave live, two at a time, never stopped, and the pinned one is named", async () => {
    const names = ["d1", "d2", "d3", "d4", "d5"];
    await apply(admin, ...names.map((n) => idle(n, [hostB])), idle("pinned", [hostB]));
    for (const n of [...names, "pinned"]) {
      await waitFor(`${n} Running on host B`, async () => {
        const got = await vm(n);
        return got?.status?.host === hostB && condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: logs });
    }
    // let them go anywhere in the pool but keep "pinned" on B
    await apply(admin, ...names.map((n) => idle(n, [hostA, hostB])));

    let on = true;
    const seen: { stopped: string[]; runningMoves: number[] } = { stopped: [], runningMoves: [] };
    const polling = (async () => {
      while (on) {
        const vms = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-o", "json"])) as { items: Obj[] };
        for (const v of vms.items) if (v.status?.powerState === "Stopped" || v.status?.phase === "Stopped") seen.stopped.push(v.metadata.name);
        const moves = JSON.parse(await kubectl(admin, ["get", "vmmigrations.omnivisor.io", "-n", ns, "-o", "json"])) as { items: Obj[] };
        seen.runningMoves.push(moves.items.filter((m) => m.status?.phase === "Running" && m.status["sourceHost"] === hostB).length);
        const states = await Promise.all(names.map(async (n) => [await virshState(hostA, n), await virshState(hostB, n)]));
        for (const [i, [sa, sb]] of states.entries()) if (sa !== "running" && sb !== "running" && !(sa === "paused" || sb === "paused")) seen.stopped.push(`${names[i]!} (virsh: ${sa ?? "-"} / ${sb ?? "-"})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await kubectl(admin, ["patch", "hosts.omnivisor.io", hostB, "--type=merge", "-p", '{"spec":{"maintenance":true}}']);
    const draining = await waitFor("only the pinned VM left on host B", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", hostB);
      const message = condition(h, "Maintenance")?.message ?? "";
      return /1 VM left/.test(message) && message.includes("pinned") ? h : undefined;
    }, { timeoutMs: 240_000, intervalMs: 500, onTimeout: logs });
    on = false;
    await polling;

    expect(draining.status?.phase).toBe("EnteringMaintenance");
    expect(condition(draining, "Maintenance")?.message).toContain(`${ns}/pinned cannot move: pinned to this host by spec.placement.hosts`);
    for (const n of names) expect((await vm(n))?.status?.host, `${n} left host B`).toBe(hostA);
    expect(await virshState(hostB, "pinned")).toBe("running");
    expect(seen.stopped, "VMs seen stopped during the drain").toEqual([]);
    expect(Math.max(...seen.runningMoves), "moves leaving host B at once").toBeLessThanOrEqual(2);
    expect(Math.max(...seen.runningMoves), "moves ran at all while polled").toBeGreaterThan(0);
    const moves = JSON.parse(await kubectl(admin, ["get", "vmmigrations.omnivisor.io", "-n", ns, "-l", `omnivisor.io/drain-host=${hostB}`, "-o", "json"])) as { items: Obj[] };
    // web (still on B after its move back was cancelled) leaves too: six moves in all
    expect(moves.items.map((m) => [m.spec["virtualMachine"], m.status?.phase, m.status?.["mode"]]).sort()).toEqual([...names, "web"].map((n) => [n, "Succeeded", "Live"]));

    await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "pinned", "-n", ns, "--wait=true", "--timeout=60s"]);
    const empty = await waitFor("host B InMaintenance", async () => {
      const h = await getObject(admin, "hosts.omnivisor.io", hostB);
      return h?.status?.phase === "InMaintenance" ? h : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
    expect(condition(empty, "Maintenance")).toMatchObject({ status: "True", reason: "InMaintenance" });
  });

  it("when ten moves run and the manager is killed -9 three times meanwhile, then each VM ends on exactly one host and no VMMigration is stuck", async () => {
    await kubectl(admin, ["patch", "hosts.omnivisor.io", hostB, "--type=merge", "-p", '{"spec":{"maintenance":false}}']);
    const extra = ["e1", "e2", "e3", "e4"];
    await apply(admin, ...extra.map((n) => idle(n, [hostA])));
    for (const n of extra) {
      await waitFor(`${n} Running on host A`, async () => {
        const got = await vm(n);
        return got?.status?.host === hostA && condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300, onTimeout: logs });
    }
    await apply(admin, ...extra.map((n) => idle(n, [hostA, hostB])));
    const all = ["web", "d1", "d2", "d3", "d4", "d5", ...extra];
    await apply(admin, ...all.map((n) => migration(`crash-${n}`, { virtualMachine: n, targetHost: hostB })));
    // three kills at random points of the moves, each followed by a restart
    for (let kill = 0; kill < 3; kill++) {
      await new Promise((r) => setTimeout(r, 500 + Math.floor(Math.random() * 2_500)));
      await operator!.kill();
      operator = startScopedOperator(operatorKubeconfig, ns);
      outputs.push(operator.output);
    }
    const ended = await waitFor("every VMMigration finished", async () => {
      const list = JSON.parse(await kubectl(admin, ["get", "vmmigrations.omnivisor.io", "-n", ns, "-o", "json"])) as { items: Obj[] };
      const mine = list.items.filter((m) => m.metadata.name.startsWith("crash-"));
      return mine.length === all.length && mine.every((m) => ["Succeeded", "Failed", "Cancelled"].includes(m.status?.phase ?? "")) ? mine : undefined;
    }, { timeoutMs: 300_000, intervalMs: 1_000, onTimeout: logs });
    for (const m of ended) {
      const events = await kubectl(admin, ["get", "events", "-n", ns, "--field-selector", `involvedObject.name=${m.metadata.name}`, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"]);
      expect(m.status?.phase, `${m.metadata.name}: ${condition(m, "Ready")?.message ?? ""}\n${events}`).toBe("Succeeded");
    }
    for (const n of all) {
      const settled = await waitFor(`${n} Ready`, async () => {
        const got = await vm(n);
        return condition(got, "Ready")?.status === "True" ? got : undefined;
      }, { timeoutMs: 60_000, intervalMs: 300, onTimeout: logs });
      const [sa, sb] = [await virshState(hostA, n), await virshState(hostB, n)];
      expect([sa, sb].filter((x) => x !== undefined), `${n} is defined on exactly one host (A: ${sa ?? "-"}, B: ${sb ?? "-"})`).toHaveLength(1);
      expect(sa ?? sb).toBe("running");
      expect(settled.status?.host, `${n}'s status names the host it runs on`).toBe(sa ? hostA : hostB);
    }
  });
});
