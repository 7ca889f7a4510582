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
    charges: listMap(
      z
        .array(
          z
            .object({
              uid: z.string().max(64).describe("UID of the admitted object."),
              kind: z.enum(["VirtualMachine", "VApp"]).describe("Kind of the admitted object."),
              name: z.string().max(253).describe("Name of the admitted object."),
              at: z.string().max(64).describe("When it was admitted (RFC 3339, milliseconds)."),
              used: limits("What the object uses, as admitted (counted until the recount sees the object)."),
              usedPerDriver: z
                .array(z.object({ driver: driver("Driver."), used: limits("What the object uses on hosts of this driver.") }).describe("Usage for one driver."))
                .max(5)
                .optional()
                .describe("What the object uses per driver, where its driver is known."),
              fromReservation: z.boolean().optional().describe("Admitted from a webhook replica's reservation and charged afterwards: the object may already be counted in used, until the recount has looked."),
            })
            .describe("A charge made at admission for an object the recount has not seen yet."),
        )
        .max(1000)
        .optional()
        .describe("Charges made at admission for creates and updates not yet seen stored; released after a few seconds if they never are."),
      "uid",
    ),
    reservations: listMap(
      z
        .array(
          z
            .object({
              holder: z.string().max(128).describe("The webhook replica holding the room (host, process, and a random part per start)."),
              room: limits("Room held for admissions from this replica: counted as used by every other replica until it is converted into charges or given back."),
              at: z.string().max(64).describe("When the holder last wrote this reservation (RFC 3339, milliseconds, the holder's clock; informational)."),
              wants: z.boolean().optional().describe("The holder is waiting for room another replica holds: the others give theirs back."),
            })
            .describe("Room one webhook replica holds, to admit from without a write per request."),
        )
        .max(20)
        .optional()
        .describe("Headroom reservations of the admission webhook's replicas (ADR 0049); released by their holder, or by the recount when unchanged for long."),
      "holder",
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
