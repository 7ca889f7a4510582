// The VDCQuota admission webhook (validating, path /validate-quota): creates and updates of
// VirtualMachines and VApps are admitted only within every quota of their namespace, charged in
// the quotas' ledgers — or taken from room this replica already holds there — before the answer
// (charger.ts, reservation.ts). A VApp is charged for all its members at once,
// or refused whole; the VMs its controller then makes (<vapp>-<member>, owned by it, no bigger
// than the member) are admitted without a second charge. Served on every replica.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { CustomObjectsApi } from "@kubernetes/client-node";
import type { VDCQuota } from "../../src/api/index.ts";
import { vappsType, vdcQuotasType, type VAppObject, type VdcQuotaObject, type VmObject } from "../../src/fleet/kinds.ts";
import { chargedThrough, chargeGrowth, chargeIsZero, noCharge, owningVApp, vappCharge, vmCharge, type Charge } from "../../src/fleet/quota.ts";
import { statusCode } from "../../src/runtime/log.ts";
import type { AdmissionRegistration } from "../../src/runtime/registry.ts";
import { apiVersionOf, keyOf, type KubeObject } from "../../src/runtime/resource.ts";
import type { AdmissionRequest, AdmissionVerdict } from "../../src/runtime/webhook-server.ts";
import { readOnlyCache } from "../../src/runtime/with-caches.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import { Charger, type QuotaStore } from "./charger.ts";
import type { ChargeRequest } from "./ledger.ts";
import { newerVersion } from "./versions.ts";

export const quotaWebhookPath = "/validate-quota";

type VAppLookup = (namespace: string, name: string) => Promise<VAppObject | undefined>;

/** What a request asks to charge: undefined when nothing grows (or the object is charged elsewhere). */
export async function chargeFor(request: AdmissionRequest, vapp: VAppLookup): Promise<ChargeRequest | undefined> {
  const namespace = request.namespace ?? "";
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return undefined;
  const object = request.object as (VmObject | VAppObject) | undefined;
  if (!object || object.metadata.deletionTimestamp) return undefined;
  const kind = request.kind.kind;
  let full: Charge;
  let before = noCharge();
  if (kind === "VirtualMachine") {
    const vm = object as VmObject;
    const owner = owningVApp(vm);
    if (owner && chargedThrough(vm, await vapp(namespace, owner.name))) return undefined; // charged through its VApp
    full = vmCharge(vm);
    if (request.operation === "UPDATE" && request.oldObject) before = vmCharge(request.oldObject as VmObject);
  } else if (kind === "VApp") {
    full = vappCharge((object as VAppObject).spec);
    if (request.operation === "UPDATE" && request.oldObject) before = vappCharge((request.oldObject as VAppObject).spec);
  } else {
    return undefined;
  }
  const delta = chargeGrowth(full, before);
  if (chargeIsZero(delta)) return undefined;
  return { uid: object.metadata.uid ?? request.uid, kind, name: object.metadata.name, namespace, delta, full };
}

/** How a refusal reads for a VApp: the whole vApp is refused, and why. */
function explain(request: ChargeRequest, why: string): string {
  if (request.kind !== "VApp") return why;
  return `VApp ${request.name} (${request.full.total.virtualMachines} members, refused whole): ${why}`;
}

export function quotaAdmission(): AdmissionRegistration {
  return {
    name: "vdcquota",
    create(deps) {
      const log = deps.log.with({ webhook: "vdcquota" });
      const quotas = readOnlyCache<VdcQuotaObject>({ ...deps, log }, vdcQuotasType, deps.namespace);
      const vapps = readOnlyCache<VAppObject>({ ...deps, log }, vappsType, deps.namespace);
      const api = deps.kc.makeApiClient(CustomObjectsApi);
      const { group, version, plural } = vdcQuotasType;
      // This process's own ledger writes, kept until the cache shows them: the next batch starts
      // from them instead of a cache one write behind (which would cost a conflict each time).
      const written = new Map<string, VDCQuota>();
      const latest = (q: VDCQuota): VDCQuota => {
        const ours = written.get(keyOf(q.metadata));
        if (!ours) return q;
        if (newerVersion(ours.metadata.resourceVersion, q.metadata.resourceVersion)) return ours;
        written.delete(keyOf(q.metadata));
        return q;
      };
      const store: QuotaStore = {
        list: (namespace) => (quotas.list() as VDCQuota[]).filter((q) => q.metadata.namespace === namespace && !q.metadata.deletionTimestamp).map(latest),
        read: async (namespace, name) => {
          try {
            return (await api.getNamespacedCustomObject({ group, version, plural, namespace, name })) as VDCQuota;
          } catch (err) {
            if (statusCode(err) === 404) return undefined;
            throw err;
          }
        },
        readAll: async () => {
          const list = (deps.namespace
            ? await api.listNamespacedCustomObject({ group, version, plural, namespace: deps.namespace })
            : await api.listClusterCustomObject({ group, version, plural })) as { items: VDCQuota[] };
          return list.items;
        },
        writeLedger: async (quota, ledger) => {
          const { name, namespace, resourceVersion } = quota.metadata;
          const body = { apiVersion: apiVersionOf(vdcQuotasType), kind: vdcQuotasType.kind, metadata: { name, namespace, resourceVersion }, spec: quota.spec, status: { ...quota.status, ...ledger } };
          const out = (await api.replaceNamespacedCustomObjectStatus({ group, version, plural, namespace: namespace!, name, body, fieldManager: "omnivisor-quota-admission" })) as VDCQuota;
          written.set(keyOf(out.metadata), out);
          return out;
        },
      };
      // unique per process start: a restarted replica never takes an old block for its own
      const holder = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`.slice(-128);
      const charger = new Charger(store, log.with({ holder }), { holder });
      quotas.on({ added: (q) => charger.quotaChanged(latest(q as VDCQuota)), updated: (_old, q) => charger.quotaChanged(latest(q as VDCQuota)) });
      const vappOf: VAppLookup = async (namespace, name) => {
        const cached = vapps.get(`${namespace}/${name}`);
        if (cached) return cached;
        // the VApp controller may create its VMs before this replica's cache shows the VApp
        try {
          return (await api.getNamespacedCustomObject({ group, version, plural: vappsType.plural, namespace, name })) as VAppObject;
        } catch (err) {
          if (statusCode(err) === 404) return undefined;
          throw err;
        }
      };
      const synced = Promise.all([quotas.waitForSync(), vapps.waitForSync()]);
      const review = async (request: AdmissionRequest): Promise<AdmissionVerdict> => {
        // an empty cache would admit everything: wait for the first list (a little), else refuse
        if (!(quotas.synced && vapps.synced)) await Promise.race([synced, new Promise((r) => setTimeout(r, 5_000).unref())]);
        if (!(quotas.synced && vapps.synced)) return { allowed: false, message: "the VDCQuota webhook has not loaded the quotas yet; try again in a few seconds" };
        // a manager that watches one namespace knows no other namespace's quotas: refuse rather than admit unchecked
        if (deps.namespace && request.namespace !== deps.namespace) {
          return { allowed: false, message: `this Omnivisor manager watches namespace ${deps.namespace} only; its webhook configuration must select that namespace alone (got ${request.namespace ?? "none"})` };
        }
        const charge = await chargeFor(request, vappOf);
        if (!charge) return { allowed: true };
        const why = request.dryRun ? charger.check(charge) : await charger.charge(charge);
        return why ? { allowed: false, message: explain(charge, why) } : { allowed: true };
      };
      return {
        path: quotaWebhookPath,
        caches: [quotas, vapps] as Informer<KubeObject>[],
        ready: () => quotas.synced && vapps.synced,
        review,
      };
    },
  };
}
