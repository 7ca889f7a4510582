// VDCQuota: hard limits for a tenant namespace (its virtual datacenter), optionally per driver.
import { z } from "zod";
import { listMap } from "./crd-meta.ts";
import { driver, quantity } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { conditions, observedGeneration } from "./status.ts";

function limits(description: string) {
  return z
    .object({
      virtualMachines: z.int().min(0).optional().describe("VirtualMachines (vApp members included)."),
      cpus: z.int().min(0).optional().describe("Sum of spec.cpus."),
      memory: quantity("Sum of spec.memory.").optional(),
      storage: quantity("Sum of disk sizes.").optional(),
    })
    .describe(description);
}

export const vdcQuotaSpec = z
  .object({
    hard: limits("Limits for the whole namespace; an absent limit is unlimited.").meta({ minProperties: 1 }),
    perDriver: listMap(
      z
        .array(
          z
            .object({
              driver: driver("Driver the limits apply to."),
              hard: limits("Limits for VMs on hosts of this driver.").meta({ minProperties: 1 }),
            })
            .describe("Limits for one driver."),
        )
        .max(5)
        .optional()
        .describe("Additional limits per driver."),
      "driver",
    ),
  })
  .describe("Desired state of the VDCQuota.");

export const vdcQuotaStatus = z
  .object({
    observedGeneration,
    conditions,
    used: limits("What the namespace uses now.").optional(),
    usedPerDriver: listMap(
      z
        .array(
          z
            .object({
              driver: driver("Driver."),
              used: limits("What the namespace uses on hosts of this driver."),
            })
            .describe("Usage for one driver."),
        )
        .max(5)
        .optional()
        .describe("Usage per driver."),
      "driver",
    ),
  })
  .describe("Observed state of the VDCQuota.");

export type VDCQuotaSpec = z.output<typeof vdcQuotaSpec>;
export type VDCQuotaStatus = z.output<typeof vdcQuotaStatus>;
export type VDCQuota = Resource<VDCQuotaSpec, VDCQuotaStatus>;

export const vdcQuotaKind: KindDefinition = {
  kind: "VDCQuota",
  plural: "vdcquotas",
  shortNames: ["oquota"],
  scope: "Namespaced",
  description: "Hard limits for a tenant namespace (its virtual datacenter): VMs, vCPUs, memory and storage, optionally per driver. Enforced at admission.",
  spec: vdcQuotaSpec,
  status: vdcQuotaStatus,
  printerColumns: readyAndAge(
    { name: "VMs", type: "integer", jsonPath: ".status.used.virtualMachines", description: "VMs used." },
    { name: "VM Limit", type: "integer", jsonPath: ".spec.hard.virtualMachines", description: "VM limit." },
    { name: "CPUs", type: "integer", jsonPath: ".status.used.cpus", description: "vCPUs used." },
    { name: "CPU Limit", type: "integer", jsonPath: ".spec.hard.cpus", description: "vCPU limit." },
    { name: "Memory", type: "string", jsonPath: ".status.used.memory", description: "Memory used." },
    { name: "Memory Limit", type: "string", jsonPath: ".spec.hard.memory", description: "Memory limit." },
  ),
};
