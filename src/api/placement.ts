// Placement vocabulary shared by Datacenter (defaults), HostPool (override) and VirtualMachine.
import { z } from "zod";
import { cel } from "./crd-meta.ts";
import { nameList } from "./fields.ts";

export const placementPolicies = ["Performance", "Progressive"] as const;

export function placementPolicy(description: string) {
  return z.enum(placementPolicies).describe(
    `${description} Performance spreads: the host with the most free resources wins. Progressive packs: fill one host until it is exhausted, then the next.`,
  );
}

/** Where placement may look (the load-balance level). */
export function placementDefaults(description: string) {
  return cel(
    z
      .object({
        policy: placementPolicy("How a host is chosen among those that fit.").default("Performance"),
        scope: z
          .enum(["Datacenter", "Pool", "Hosts"])
          .default("Pool")
          .describe("Load-balance level: all pools of the datacenter, all hosts of the VM's pool, or only the listed hosts."),
        hosts: nameList("Hosts placement may use when scope is Hosts.", "Name of a Host.").optional(),
      })
      .describe(description),
    {
      rule: "self.scope != 'Hosts' || (has(self.hosts) && size(self.hosts) > 0)",
      message: "scope Hosts needs a non-empty hosts list",
      fieldPath: ".hosts",
      reason: "FieldValueRequired",
    },
  );
}
