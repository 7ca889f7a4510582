// The omnivisor.io/v1alpha1 API: zod schemas (runtime validation) and the TypeScript types
// derived from them. The CRDs in crds/ are generated from the same schemas (make crds).
export { apiVersion, group, version, type KindDefinition, type Resource } from "./kind.ts";
export { kinds } from "./kinds.ts";
export { drivers, type DriverName } from "./fields.ts";
export { condition, type Condition } from "./status.ts";
export { placementPolicies } from "./placement.ts";
export * from "./datacenter.ts";
export * from "./host-pool.ts";
export * from "./host.ts";
export * from "./ha-policy.ts";
export * from "./drs-policy.ts";
export * from "./virtual-machine.ts";
export * from "./vm-migration.ts";
export * from "./vapp.ts";
export * from "./vdc-quota.ts";
