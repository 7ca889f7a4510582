// Conformance: cloud-init data and device settings (disk bus and boot order, NIC model and MAC)
// reach the host, checked in the host's own view (virsh dumpxml, the vim25 API, the fakes'
// records, docker inspect) — never through the driver that wrote them. A driver that cannot do one
// says so: its create is refused as unsupported, naming the field, and the case says why.
import { expect, it } from "vitest";
import { errorKind, type DiskSpec, type NetworkSpec, type VmSpec } from "../contract/index.ts";
import type { ConformanceContext } from "./suite.ts";
import type { DeviceValues } from "./target.ts";

/** A marker only this run's VM carries, in user data as cloud-init's final_message takes it. */
function userData(marker: string): string {
  return `#cloud-config\nfinal_message: ${marker}\n`;
}

/** Spec disks: the target's first disk, then one blank disk per further bus; boot orders reversed (last disk boots first). */
function deviceDisks(base: VmSpec, values: DeviceValues): DiskSpec[] {
  const first = base.disks[0] ?? { name: "root", sizeGiB: 1 };
  const buses = values.diskBuses.length > 0 ? values.diskBuses : [undefined];
  return buses.map((bus, i) => {
    const disk: DiskSpec = i === 0 ? { ...first } : { name: `data${i}`, sizeGiB: 1 };
    if (bus !== undefined) disk.bus = bus;
    if (values.bootOrder) disk.bootOrder = buses.length - i;
    return disk;
  });
}

function deviceNics(values: DeviceValues): NetworkSpec[] {
  return values.nicModels.map((model, i) => ({ ...values.network, name: `nic${i}`, model, macAddress: `${values.macPrefix}:00:00:${(16 + i).toString(16)}` }));
}

export function deviceTests(ctx: ConformanceContext): void {
  it("cloud-init: the user data reaches the VM the way the hypervisor's cloud-init datasource reads it — or the driver refuses it, saying why", async () => {
    const session = ctx.session();
    const identity = ctx.identity("cloudinit");
    const marker = `omnivisor-marker-${identity.uid.slice(0, 8)}`;
    const spec: VmSpec = { ...ctx.spec(), cloudInit: { userData: userData(marker) } };
    const seen = ctx.target.hooks.cloudInit;
    if ("refused" in seen) {
      console.info(`${ctx.target.name}: cloud-init does not apply: ${seen.refused}`);
      const err: unknown = await session.createVm(identity, spec).catch((e: unknown) => e);
      expect(errorKind(err), `createVm with cloud-init on ${ctx.target.name}: ${String(err)}`).toBe("unsupported");
      expect((err as Error).message).toMatch(/cloud-init/i);
      expect(await session.observeVm(identity), "nothing was created").toBeUndefined();
      return;
    }
    if ("notApplicable" in seen) {
      // the driver takes it, but this host has nothing to look at: say so rather than pass silently
      console.info(`${ctx.target.name}: the guest's cloud-init data cannot be looked at here: ${seen.notApplicable}`);
      expect(seen.notApplicable.length).toBeGreaterThan(0);
      await session.createVm(identity, spec);
      await session.deleteVm(identity);
      return;
    }
    await session.createVm(identity, spec);
    expect(await seen.userData(identity), "the user data as the host holds it for the guest").toBe(userData(marker));
    await session.deleteVm(identity);
    expect(await session.observeVm(identity)).toBeUndefined();
  });

  it("devices: every disk bus and NIC model the driver takes, boot orders and fixed MACs are what the host shows", async () => {
    const session = ctx.session();
    const identity = ctx.identity("devices");
    const values = ctx.target.hooks.devices;
    const spec: VmSpec = { ...ctx.spec(), disks: deviceDisks(ctx.spec(), values), networks: deviceNics(values) };
    await session.createVm(identity, spec);
    const seen = await values.seen(identity);
    if (values.diskBuses.length === 0) {
      console.info(`${ctx.target.name}: disk bus and boot order do not apply: ${values.whyNoDisks ?? ""}`);
      expect(values.whyNoDisks?.length).toBeGreaterThan(0);
    } else {
      expect(seen.disks.map((d) => d.bus)).toEqual(values.diskBuses.map(values.hostBus));
      if (values.bootOrder) expect(seen.disks.map((d) => d.bootOrder)).toEqual(spec.disks.map((d) => d.bootOrder));
    }
    expect(seen.nics).toEqual(spec.networks!.map((n) => ({ model: values.hostModel(n.model!), mac: n.macAddress })));
    await session.deleteVm(identity);
    expect(await session.observeVm(identity)).toBeUndefined();
  });
}
