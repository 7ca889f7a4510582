// Scenario: live migration between two libvirt hosts, peer to peer. Two private daemons (own mount
// namespaces, distinct host UUIDs) listen on loopback TCP and share a storage pool (one directory
// in /tmp defined as pool "shared" on both, as NFS would be) for the disks.
//   given  a running VM on host A, and a watch on A
//   when   the driver migrates it live to host B
//   then   B runs the VM with the same identity and UUID, A no longer has it, and A's watch
//          reported it migrated
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { HostConnection, VmEvent } from "../../drivers/contract/index.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { freePort } from "../../src/local/ports.ts";
import { startPrivateLibvirtd, type PrivateLibvirtd } from "../harness/private-libvirtd.ts";
import { requireLibvirt } from "../harness/services.ts";

const run = randomBytes(3).toString("hex");
const diskDir = join(tmpdir(), `omni-lv-migrate-${run}`);
const driver = new LibvirtDriver();
let a: PrivateLibvirtd;
let b: PrivateLibvirtd;
let hostA: HostConnection;
let hostB: HostConnection;

beforeAll(async () => {
  await requireLibvirt();
  await mkdir(diskDir, { recursive: true });
  // libvirt refuses 127.0.0.1 as migration_host ("the address of the local machine"), but any
  // other loopback address works; migration traffic must stay on loopback here.
  const ip = "127.0.0.2";
  const qemuConf = [`migration_address = "${ip}"`, `migration_host = "${ip}"`];
  const [portA, portB] = [await freePort(), await freePort()];
  [a, b] = await Promise.all([
    startPrivateLibvirtd(`mig-a-${run}`, { tcp: { address: "127.0.0.1", port: portA }, qemuConf: [...qemuConf, "migration_port_min = 49300", "migration_port_max = 49349"], pools: [{ name: "shared", path: diskDir }] }),
    startPrivateLibvirtd(`mig-b-${run}`, { tcp: { address: "127.0.0.1", port: portB }, qemuConf: [...qemuConf, "migration_port_min = 49350", "migration_port_max = 49399"], pools: [{ name: "shared", path: diskDir }] }),
  ]);
  hostA = { endpoint: `qemu+tcp://127.0.0.1:${portA}/system`, libvirt: { virtType: "qemu", storagePool: "shared" } };
  hostB = { endpoint: `qemu+tcp://127.0.0.1:${portB}/system`, libvirt: { virtType: "qemu", storagePool: "shared" } };
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(diskDir, { recursive: true, force: true });
});

describe("libvirt driver: live migration (peer to peer, over TCP)", () => {
  it("moves a running VM to another host, keeping its identity", async () => {
    const [sa, sb] = await Promise.all([driver.connect(hostA, undefined, AbortSignal.timeout(10_000)), driver.connect(hostB, undefined, AbortSignal.timeout(10_000))]);
    const identity = { uid: randomUUID(), name: `lv-mig-${run}`, namespace: "migrate", kubeName: "vm" };
    const watching = new AbortController();
    const events: VmEvent[] = [];
    try {
      expect(sa.capabilities().liveMigration).toBe(true);
      const vm = await sa.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [{ name: "root", sizeGiB: 1 }], networks: [], power: { state: "Running" } });
      const stream = await sa.watch(watching.signal);
      const collecting = (async () => {
        for await (const e of stream) events.push(e);
      })();

      await sa.migrateVm(identity, { host: hostB, live: true });

      expect(await sb.observeVm(identity)).toMatchObject({ externalId: vm.externalId, power: "Running", managed: true, identity: { uid: identity.uid } });
      expect(await sa.observeVm(identity)).toBeUndefined();
      await vi.waitFor(() => expect(events.filter((e) => e.externalId === vm.externalId).map((e) => e.type)).toContain("migrated"), { timeout: 10_000 });
      watching.abort();
      await collecting;
    } finally {
      watching.abort();
      await Promise.all([sa.deleteVm(identity), sb.deleteVm(identity)]);
      await Promise.all([sa.close(), sb.close()]);
    }
  });
});
