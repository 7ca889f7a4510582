// DRSPolicy: keep the hosts of a pool evenly loaded by live migration (vSphere DRS levels 1-5).
import { z } from "zod";
import { listMap } from "./crd-meta.ts";
import { nameList, objectName, seconds } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { conditions, observedGeneration } from "./status.ts";

export const drsPolicySpec = z
  .object({
    pools: nameList("HostPools this policy balances.", "Name of a HostPool.", 64, 1),
    mode: z
      .enum(["Manual", "Automatic"])
      .default("Manual")
      .describe("Manual publishes recommendations in status; Automatic live-migrates."),
    migrationThreshold: z
      .int()
      .min(1)
      .max(5)
      .default(3)
      .describe(
        "How much imbalance is tolerated, as in vSphere DRS: 1 only mandatory moves (maintenance, rules), 3 the default, 5 aggressive (even small gains).",
      ),
    intervalSeconds: seconds("How often load is evaluated.", 10, 3600, 60),
    maxConcurrentMigrations: z.int().min(1).max(32).default(2).describe("Migrations in flight at once per pool."),
  })
  .describe("Desired state of the DRSPolicy.");

const recommendation = z
  .object({
    id: z.string().min(1).max(64).describe("Stable id of the recommendation."),
    virtualMachine: z
      .object({
        namespace: objectName("Namespace of the VirtualMachine."),
        name: objectName("Name of the VirtualMachine."),
      })
      .describe("The VM to move."),
    fromHost: objectName("Current host."),
    toHost: objectName("Proposed host."),
    reason: z.string().max(1024).optional().describe("Why the move helps (e.g. CPU imbalance 0.31 -> 0.12)."),
    imbalanceAfter: z.number().min(0).optional().describe("Expected imbalance of the pool after the move."),
  })
  .describe("A proposed migration.");

export const drsPolicyStatus = z
  .object({
    observedGeneration,
    conditions,
    imbalance: z.number().min(0).optional().describe("Current load imbalance (standard deviation of host load, 0 = even)."),
    targetImbalance: z.number().min(0).optional().describe("Imbalance the threshold level tolerates."),
    lastEvaluatedAt: z.iso.datetime().optional().describe("When load was last evaluated."),
    recommendations: listMap(z.array(recommendation).max(256).optional().describe("Planned migrations (Manual mode), best first."), "id"),
    recommendationCount: z.int().min(0).optional().describe("Number of recommendations."),
    migrationsInProgress: z.int().min(0).optional().describe("Migrations running now."),
    migrationsCompleted: z.int().min(0).optional().describe("Migrations completed since the policy was created."),
  })
  .describe("Observed state of the DRSPolicy.");

export type DRSPolicySpec = z.output<typeof drsPolicySpec>;
export type DRSPolicyStatus = z.output<typeof drsPolicyStatus>;
export type DRSPolicy = Resource<DRSPolicySpec, DRSPolicyStatus>;

export const drsPolicyKind: KindDefinition = {
  kind: "DRSPolicy",
  plural: "drspolicies",
  shortNames: ["odrs"],
  scope: "Cluster",
  description: "Load balancing for HostPools: evaluates host load every interval and recommends or performs live migrations.",
  spec: drsPolicySpec,
  status: drsPolicyStatus,
  printerColumns: readyAndAge(
    { name: "Pools", type: "string", jsonPath: ".spec.pools", description: "Balanced pools." },
    { name: "Mode", type: "string", jsonPath: ".spec.mode", description: "Manual or Automatic." },
    { name: "Level", type: "integer", jsonPath: ".spec.migrationThreshold", description: "Migration threshold 1-5." },
    { name: "Imbalance", type: "number", jsonPath: ".status.imbalance", description: "Current load imbalance." },
    { name: "Recommendations", type: "integer", jsonPath: ".status.recommendationCount", description: "Pending recommendations." },
    { name: "Migrations", type: "integer", jsonPath: ".status.migrationsCompleted", description: "Migrations completed." },
  ),
};
