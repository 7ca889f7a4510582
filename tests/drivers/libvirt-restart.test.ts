// Scenario: libvirtd is killed mid-watch and restarted. A private daemon (its own mount namespace,
// tests/harness/private-libvirtd.ts) stands in for the host's, so the shared one is never touched.
//   given  a status watcher following a libvirt host with three running VMs: keep, lost, stopped
//   when   libvirtd is killed with SIGKILL; while it is down the QEMU of "lost" dies; libvirtd
//          comes back, and before the watcher is back "stopped" is shut off with virsh
//   then   the watcher reconnects on its own and reports what it missed: "stopped" Stopped,
//          "lost" Crashed (libvirt itself reports a guest that vanished while it was down as
//          crashed), "keep" still Running — and events flow again on the new connection
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { HostConnection, VmEvent, VmIdentity } from "../../drivers/contract/index.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { StatusWatcher, type ConnectionState } from "../../drivers/watcher/status-watcher.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";
import { Virsh } from "./libvirt-virsh.ts";

const run = randomBytes(3).toString("hex");
const diskDir = join(tmpdir(), `omni-lv-restart-${run}`);
const driver = new LibvirtDriver();
let daemon: PrivateLibvirtd;
let host: HostConnection;

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(diskDir, { recursive: true });
  daemon = await startPrivateLibvirtd(`restart-${run}`);
  host = { endpoint: daemon.uri, libvirt: { virtType: "qemu" } };
});

afterAll(async () => {
  await daemon?.stop();
  await rm(diskDir, { recursive: true, force: true });
});

function identity(label: string): VmIdentity {
  return { uid: randomUUID(), name: `lv-restart-${run}-${label}`, namespace: "restart", kubeName: label };
}

describe("libvirt driver: libvirtd restart mid-watch", () => {
  it("the watch resumes and the state after reconnect matches the hypervisor", async () => {
    const keep = identity("keep");
    const lost = identity("lost");
    const stopped = identity("stopped");
    const spec = { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], power: { state: "Running" as const } };
    const setup = await driver.connect(host, undefined, AbortSignal.timeout(10_000));
    const [keepVm, lostVm, stoppedVm] = [await setup.createVm(keep, spec), await setup.createVm(lost, spec), await setup.createVm(stopped, spec)];
    await setup.close();

    const events: VmEvent[] = [];
    const connections: ConnectionState[] = [];
    // Holds the watcher's reconnects back while the test changes things behind its back.
    let gate: Promise<void> = Promise.resolve();
    let openGate = (): void => undefined;
    const watcher = new StatusWatcher({
      connect: async (signal) => {
        await gate;
        return driver.connect(host, undefined, signal);
      },
      onEvent: (e) => events.push(e),
      onConnection: (c) => connections.push(c),
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    const stop = new AbortController();
    const running = watcher.run(stop.signal);
    try {
      await vi.waitFor(() => expect(watcher.known.get(lostVm.externalId)?.power).toBe("Running"), { timeout: 10_000 });

      // The daemon crashes; while it is down the "lost" guest's QEMU dies too.
      const qemuPid = Number((await readFile(join(daemon.dir, "run", "qemu", `${lost.name}.pid`), "utf8")).trim());
      gate = new Promise((resolve) => (openGate = resolve));
      await daemon.kill();
      await vi.waitFor(() => expect(connections.some((c) => !c.connected)).toBe(true), { timeout: 10_000 });
      const drop = connections.find((c) => !c.connected);
      expect((drop?.error as { kind?: string }).kind, "a dropped connection is retryable").toBe("retryable");
      process.kill(qemuPid, "SIGKILL");
      await daemon.restart();
      await new Virsh(daemon.uri).exec("destroy", stopped.name).catch(async (err: unknown) => {
        const log = await readFile(join(daemon.dir, "libvirtd.log"), "utf8").catch(() => "");
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nlibvirtd after restart: ${log.split("\n").filter((l) => / (error|warning) /.test(l)).slice(-8).join("\n")}`);
      });
      openGate();

      // The watcher reconnects by itself and reports what it missed.
      await vi.waitFor(() => expect(connections.at(-1)?.connected).toBe(true), { timeout: 15_000 });
      await vi.waitFor(() => expect(watcher.known.get(stoppedVm.externalId)?.power).toBe("Stopped"), { timeout: 10_000 });
      expect(watcher.known.get(lostVm.externalId)?.power).toBe("Crashed");
      expect(watcher.known.get(keepVm.externalId)?.power).toBe("Running");
      const missed = events.filter((e) => e.detail === "missed while disconnected").map((e) => `${e.type} ${e.externalId}`);
      expect(missed.sort()).toEqual([`crashed ${lostVm.externalId}`, `stopped ${stoppedVm.externalId}`].sort());

      // And the new connection's event stream is live: a change made with virsh arrives.
      await new Virsh(daemon.uri).exec("destroy", keep.name);
      await vi.waitFor(() => expect(events.some((e) => e.externalId === keepVm.externalId && e.type === "stopped")).toBe(true), { timeout: 10_000 });
      expect(watcher.known.get(keepVm.externalId)?.power).toBe("Stopped");
    } finally {
      openGate();
      stop.abort();
      await running;
      const cleanup = await driver.connect(host, undefined, AbortSignal.timeout(10_000));
      await Promise.all([cleanup.deleteVm(keep), cleanup.deleteVm(lost), cleanup.deleteVm(stopped)]);
      await cleanup.close();
    }
  });
});
