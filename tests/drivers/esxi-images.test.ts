// Scenario: a standalone ESXi host cannot clone (CloneVM_Task needs vCenter), so a disk "from an
// image" is a copy of the image's VMDK in the host's datastore (omnivisor-images/<name>.vmdk).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { HostConnection, Session } from "../../drivers/contract/index.ts";
import { errorKind } from "../../drivers/contract/index.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { vcsimUrl } from "../harness/services.ts";
import { anyCredentials, govc, sharedVcsim } from "./esxi-vcsim.ts";

const image = `esxi-img-${randomBytes(3).toString("hex")}`;
let session: Session;

beforeAll(async () => {
  const host: HostConnection = await sharedVcsim();
  await govc(vcsimUrl, ["datastore.mkdir", "-p", "omnivisor-images"]);
  await govc(vcsimUrl, ["datastore.disk.create", "-size", "10M", `omnivisor-images/${image}.vmdk`]);
  session = await new EsxiDriver().connect(host, anyCredentials, AbortSignal.timeout(30_000));
});

afterAll(async () => {
  await session?.close();
  await govc(vcsimUrl, ["datastore.rm", "-f", `omnivisor-images/${image}.vmdk`]).catch(() => undefined);
});

it("given an image in the host's datastore, when a VM is created from it, then its disk is a copy and delete removes the copy, not the image", async () => {
  const identity = { uid: `uid-${image}`, name: `${image}.vm` };
  const vm = await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [{ name: "root", image }], power: { state: "Running" } });
  expect(vm).toMatchObject({ managed: true, power: "Running" });
  const disks = await govc(vcsimUrl, ["device.info", "-vm", identity.name, "disk-*"]);
  expect(disks).toContain(`omnivisor-disks/${identity.uid}/root.vmdk`);
  expect(await govc(vcsimUrl, ["datastore.ls", "omnivisor-disks"])).toContain(identity.uid);

  // Created again (a retried reconcile): the same VM, no second copy.
  expect((await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [{ name: "root", image }] })).externalId).toBe(vm.externalId);

  await session.deleteVm(identity);
  expect(await session.observeVm(identity)).toBeUndefined();
  expect(await govc(vcsimUrl, ["datastore.ls", "omnivisor-disks"])).not.toContain(identity.uid);
  expect(await govc(vcsimUrl, ["datastore.ls", "omnivisor-images"])).toContain(`${image}.vmdk`);
});

it("given an image that does not exist, when a VM is created from it, then the error is not-found (image-missing) and no VM is left", async () => {
  const identity = { uid: `uid-${image}-missing`, name: `${image}.missing` };
  const err: unknown = await session.createVm(identity, { cpus: 1, memoryMiB: 64, disks: [{ name: "root", image: `${image}-nope` }] }).catch((e: unknown) => e);
  expect(errorKind(err)).toBe("not-found");
  expect((err as { reason?: string }).reason).toBe("image-missing");
  expect(await session.observeVm(identity)).toBeUndefined();
});
