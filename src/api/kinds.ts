// Every kind of omnivisor.io/v1alpha1, in the order the CRDs are written.
import { datacenterKind } from "./datacenter.ts";
import { drsPolicyKind } from "./drs-policy.ts";
import { haPolicyKind } from "./ha-policy.ts";
import { hostPoolKind } from "./host-pool.ts";
import { hostKind } from "./host.ts";
import type { KindDefinition } from "./kind.ts";
import { vAppKind } from "./vapp.ts";
import { vdcQuotaKind } from "./vdc-quota.ts";
import { virtualMachineKind } from "./virtual-machine.ts";
import { vmMigrationKind } from "./vm-migration.ts";

export const kinds: readonly KindDefinition[] = [
  datacenterKind,
  hostPoolKind,
  hostKind,
  haPolicyKind,
  drsPolicyKind,
  virtualMachineKind,
  vmMigrationKind,
  vAppKind,
  vdcQuotaKind,
];
