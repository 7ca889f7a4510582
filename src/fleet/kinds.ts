// The omnivisor.io kinds these controllers watch, as the runtime's ResourceType, plus the typed
// objects (the API's zod types with the runtime's metadata).
import { group, version, type Datacenter as ApiDatacenter, type Host as ApiHost, type HostPool as ApiHostPool, type VirtualMachine as ApiVm, type VMMigration as ApiVmMigration, type VApp as ApiVApp, type VDCQuota as ApiVdcQuota } from "../api/index.ts";
import type { ObjectMeta, ResourceType } from "../runtime/resource.ts";

const kind = (k: string, plural: string, namespaced: boolean): ResourceType => ({ group, version, plural, kind: k, namespaced });

export const hostsType = kind("Host", "hosts", false);
export const hostPoolsType = kind("HostPool", "hostpools", false);
export const datacentersType = kind("Datacenter", "datacenters", false);
export const virtualMachinesType = kind("VirtualMachine", "virtualmachines", true);
export const vmMigrationsType = kind("VMMigration", "vmmigrations", true);
export const vAppsType = kind("VApp", "vapps", true);
/** The same as vAppsType (the quota webhook's spelling). */
export const vappsType = vAppsType;
export const vdcQuotasType = kind("VDCQuota", "vdcquotas", true);
export const drsPoliciesType = kind("DRSPolicy", "drspolicies", false);

type WithMeta<T extends { spec: unknown; status?: unknown }> = { apiVersion?: string; kind?: string; metadata: ObjectMeta; spec: T["spec"]; status?: T["status"] };

export type HostObject = WithMeta<ApiHost>;
export type HostPoolObject = WithMeta<ApiHostPool>;
export type DatacenterObject = WithMeta<ApiDatacenter>;
export type VmObject = WithMeta<ApiVm>;
export type VmMigrationObject = WithMeta<ApiVmMigration>;
export type VAppObject = WithMeta<ApiVApp>;
export type VdcQuotaObject = WithMeta<ApiVdcQuota>;
