// Scenarios around the quota's ledger, through the real API server and the manager's webhook:
// a VApp is charged for all its members at once or refused whole, and the VMs made for it are not
// charged again; a create the webhook charged but the API server never stored (a name taken) is
// released by the recount within seconds; and while no manager serves the webhook, creates fail
// closed saying so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { apply, kubectl } from "../lifecycle/fixtures.ts";
import { api, createAtOnce, quota, quotaScenario, quotaStatus, quotaUntil, storedVms, vm, webhookInForce, type QuotaScenario } from "./fixtures.ts";

const namespace = "quota-ledger";
let s: QuotaScenario;
const settled = (n: number) => (q: { used?: { virtualMachines?: number }; charges?: unknown }) => q.used?.virtualMachines === n && q.charges === undefined;

beforeAll(async () => {
  s = await quotaScenario(namespace, { admin: inject("kubeconfig"), operator: inject("operatorKubeconfig"), controlPlaneDir: inject("controlPlaneDir") });
  await s.startManager(["--charge-grace", "10"]);
  await webhookInForce(s.admin, namespace);
});

afterAll(async () => {
  await s?.end();
});

const member = (name: string) => ({ name, spec: { cpus: 1, memory: "64Mi" } });
const vapp = (name: string, members: string[]) => ({ apiVersion: api, kind: "VApp", metadata: { name, namespace }, spec: { members: members.map(member) } });
const ownedBy = (owner: { name: string; uid: string }) => ({ ownerReferences: [{ apiVersion: api, kind: "VApp", name: owner.name, uid: owner.uid, controller: true }] });

async function create(body: object): Promise<{ code: number; stderr: string }> {
  const [out] = await createAtOnce(s.admin, [{ name: "one", body }]);
  return out!;
}

describe("VApps against a quota", () => {
  it("a VApp over the quota is refused whole; one within it is charged once, members and all", async () => {
    await apply(s.admin, quota(namespace, "six", { virtualMachines: 6, cpus: 12 }));
    await quotaUntil(s.admin, namespace, "six", "the quota counted", settled(0));

    const big = await create(vapp("big", ["a", "b", "c", "d", "e", "f", "g"]));
    expect(big.code).not.toBe(0);
    expect(big.stderr).toContain(`VApp big (7 members, refused whole): namespace ${namespace} would use 7 VMs of 6 (VDCQuota six)`);
    expect(await kubectl(s.admin, ["get", "vapps.omnivisor.io", "-n", namespace, "-o", "name"])).toBe("");

    expect((await create(vapp("shop", ["m1", "m2", "m3", "m4"]))).code).toBe(0);
    await quotaUntil(s.admin, namespace, "six", "the VApp's four members counted", settled(4));

    // what the VApp controller does: a VM per member, owned by the VApp — admitted, not charged again
    const uid = (await kubectl(s.admin, ["get", "vapps.omnivisor.io", "shop", "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).trim();
    const members = await createAtOnce(s.admin, ["m1", "m2", "m3", "m4"].map((m) => ({ name: m, body: vm(namespace, `shop-${m}`, 1, {}) })).map((m) => ({ ...m, body: { ...m.body, metadata: { ...(m.body as { metadata: object }).metadata, ...ownedBy({ name: "shop", uid }) } } })));
    expect(members.map((m) => m.stderr)).toEqual(["", "", "", ""]);
    const afterMembers = await quotaUntil(s.admin, namespace, "six", "the members' VMs seen", settled(4));
    expect(afterMembers.used).toMatchObject({ virtualMachines: 4, cpus: 4 });

    // two more standalone VMs fit; a seventh does not, and owning it by the VApp does not help
    expect((await createAtOnce(s.admin, [{ name: "vm-x", body: vm(namespace, "vm-x") }, { name: "vm-y", body: vm(namespace, "vm-y") }])).map((o) => o.stderr)).toEqual(["", ""]);
    const forged = await create({ ...(vm(namespace, "shop-m5") as { metadata: object }), metadata: { name: "shop-m5", namespace, ...ownedBy({ name: "shop", uid }) } });
    expect(forged.stderr).toContain(`namespace ${namespace} would use 7 VMs of 6 (VDCQuota six)`);

    // growing the VApp is an update charged the same way
    const grow = await kubectl(s.admin, ["patch", "vapps.omnivisor.io", "shop", "-n", namespace, "--type", "json", "-p", JSON.stringify([{ op: "add", path: "/spec/members/-", value: member("m5") }])]).then(() => "", (err: Error) => err.message);
    expect(grow).toContain(`VApp shop (5 members, refused whole): namespace ${namespace} would use 7 VMs of 6 (VDCQuota six)`);

    expect(await storedVms(s.admin, namespace)).toEqual(["shop-m1", "shop-m2", "shop-m3", "shop-m4", "vm-x", "vm-y"]);
    const final = await quotaUntil(s.admin, namespace, "six", "usage settled", settled(6));
    expect(final.used).toMatchObject({ virtualMachines: 6, cpus: 6 });
    // nothing here was charged and then released: the members were never charged
    expect(await kubectl(s.admin, ["get", "events", "-n", namespace, "--field-selector", "involvedObject.name=six,reason=ChargeReleased", "-o", "jsonpath={.items[*].message}"])).toBe("");
  }, 180_000);
});

describe("the recount", () => {
  beforeAll(async () => {
    for (const kind of ["vapps", "virtualmachines", "vdcquotas"]) await kubectl(s.admin, ["delete", `${kind}.omnivisor.io`, "--all", "-n", namespace, "--wait=true"]);
  });

  it("releases the charge of a create that was admitted but never stored", async () => {
    await apply(s.admin, quota(namespace, "three", { virtualMachines: 3 }));
    await quotaUntil(s.admin, namespace, "three", "the quota counted", settled(0));
    expect((await createAtOnce(s.admin, [{ name: "a", body: vm(namespace, "a") }, { name: "b", body: vm(namespace, "b") }])).map((o) => o.code)).toEqual([0, 0]);
    await quotaUntil(s.admin, namespace, "three", "two VMs counted", settled(2));

    // the webhook admits (and charges) it; then the API server cannot store it: the name is taken
    const again = await create(vm(namespace, "a"));
    expect(again.stderr).toContain("AlreadyExists");
    const charged = await quotaStatus(s.admin, namespace, "three");
    expect(charged?.used?.virtualMachines).toBe(3);
    expect(charged?.charges?.map((c) => c.name)).toEqual(["a"]);

    const released = await quotaUntil(s.admin, namespace, "three", "the charge released", settled(2));
    expect(released.used).toMatchObject({ virtualMachines: 2 });
    const reasons = await kubectl(s.admin, ["get", "events", "-n", namespace, "--field-selector", "involvedObject.name=three", "-o", "jsonpath={.items[*].reason}"]);
    expect(reasons).toContain("ChargeReleased");
    expect((await create(vm(namespace, "c"))).code).toBe(0);
  }, 120_000);

  it("fails closed while no manager serves the webhook, saying which webhook", async () => {
    await s.stopManager();
    const refused = await create(vm(namespace, "while-down"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('failed calling webhook "vdcquota.omnivisor.io"');
    expect(await storedVms(s.admin, namespace)).not.toContain("while-down");

    await s.startManager(["--charge-grace", "10"]);
    const over = await create(vm(namespace, "after"));
    expect(over.stderr).toContain(`namespace ${namespace} would use 4 VMs of 3 (VDCQuota three)`);
  }, 120_000);
});
