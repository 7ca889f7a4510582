// HostPool: a resource pool inside a datacenter; HA and DRS policies bind to pools.
import { z } from "zod";
import { cel, immutable } from "./crd-meta.ts";
import { labelSelector, nameList, objectName } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { placementDefaults } from "./placement.ts";
import { conditions, observedGeneration, resources } from "./status.ts";

export const hostPoolSpec = cel(
  z
    .object({
      datacenter: immutable(objectName("Datacenter the pool belongs to."), "datacenter"),
      hostSelector: labelSelector("Hosts whose labels match belong to the pool (in addition to spec.pool of a Host naming it).").optional(),
      hosts: nameList("Hosts that belong to the pool, by name.", "Name of a Host.", 256).optional(),
      placement: placementDefaults("Overrides the datacenter's default placement for VMs in this pool.").optional(),
    })
    .describe("Desired state of the HostPool."),
  {
    rule: "has(self.hostSelector) != has(self.hosts)",
    message: "set exactly one of hostSelector and hosts",
    fieldPath: ".hosts",
    reason: "FieldValueInvalid",
  },
);

export const hostPoolStatus = z
  .object({
    observedGeneration,
    conditions,
    hosts: z.int().min(0).optional().describe("Hosts in the pool."),
    readyHosts: z.int().min(0).optional().describe("Hosts whose Ready condition is True."),
    virtualMachines: z.int().min(0).optional().describe("VMs Omnivisor manages on the pool's hosts, as the hosts report them."),
    capacity: resources("Sum of the hosts' capacity.").optional(),
    allocatable: resources("Sum of the hosts' allocatable resources.").optional(),
    allocated: resources("Sum of what VMs in the pool have been given.").optional(),
  })
  .describe("Observed state of the HostPool.");

export type HostPoolSpec = z.output<typeof hostPoolSpec>;
export type HostPoolStatus = z.output<typeof hostPoolStatus>;
export type HostPool = Resource<HostPoolSpec, HostPoolStatus>;

export const hostPoolKind: KindDefinition = {
  kind: "HostPool",
  plural: "hostpools",
  shortNames: ["opool"],
  scope: "Cluster",
  description: "A resource pool inside a Datacenter: a set of Hosts chosen by label selector or by name. HA and DRS policies bind to pools.",
  spec: hostPoolSpec,
  status: hostPoolStatus,
  printerColumns: readyAndAge(
    { name: "Datacenter", type: "string", jsonPath: ".spec.datacenter", description: "Datacenter of the pool." },
    { name: "Hosts", type: "integer", jsonPath: ".status.hosts", description: "Hosts in the pool." },
    { name: "Ready Hosts", type: "integer", jsonPath: ".status.readyHosts", description: "Hosts that are Ready." },
    { name: "VMs", type: "integer", jsonPath: ".status.virtualMachines", description: "VirtualMachines in the pool." },
  ),
};
