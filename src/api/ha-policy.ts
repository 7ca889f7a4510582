// HAPolicy: restart the VMs of a failed host elsewhere in its pool — only after a confirmed fence.
import { z } from "zod";
import { listMap } from "./crd-meta.ts";
import { nameList, objectName, seconds } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { conditions, observedGeneration } from "./status.ts";

/** Restart priorities, highest first (vSphere HA's names); Disabled means never restart. */
export const restartPriorities = ["Highest", "High", "Medium", "Low", "Lowest", "Disabled"] as const;

export const haPolicySpec = z
  .object({
    pools: nameList("HostPools this policy protects.", "Name of a HostPool.", 64, 1),
    heartbeatIntervalSeconds: seconds("How often each host's heartbeat Lease is renewed.", 1, 60, 2),
    missedHeartbeats: z
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe("Heartbeats a host may miss before it is Suspect (strike one)."),
    confirmationStrikes: z
      .int()
      .min(1)
      .max(2)
      .default(2)
      .describe("Strikes before a host is declared failed: 1 = a missed lease alone; 2 = plus a failed direct probe of the endpoint."),
    fencingRequired: z
      .boolean()
      .default(true)
      .describe("Restart VMs only after the failed host is confirmed off. Turning this off risks a VM running twice."),
    reservedHostFailures: z
      .int()
      .min(0)
      .max(16)
      .default(1)
      .describe("Host failures the pools must absorb: placement keeps this much capacity free for restarts."),
    defaultRestartPriority: z
      .enum(restartPriorities)
      .default("Medium")
      .describe("Restart priority of VMs that set none (spec.haRestartPriority)."),
    restartOrder: z
      .object({
        waitFor: z
          .enum(["Started", "Ready"])
          .default("Started")
          .describe("Start the next priority group when the previous one is started, or when its VMs are Ready."),
        delaySeconds: seconds("Extra wait between priority groups.", 0, 3600, 0),
      })
      .default({ waitFor: "Started", delaySeconds: 0 })
      .describe("How priority groups follow each other during a failover."),
    maxConcurrentRestarts: z.int().min(1).max(256).default(8).describe("VMs restarted at the same time during a failover."),
  })
  .describe("Desired state of the HAPolicy.");

const failover = z
  .object({
    host: objectName("The failed host."),
    phase: z
      .enum(["Suspect", "Fencing", "Fenced", "Restarting", "Completed", "Blocked"])
      .describe("Where the failover is: Suspect (heartbeat missed), Fencing, Fenced (confirmed off), Restarting (its VMs placed again by priority), Completed, or Blocked (message says why: no confirmed fence, no capacity)."),
    startedAt: z.iso.datetime().describe("When the host was first suspected."),
    fencedAt: z.iso.datetime().optional().describe("When the fence was confirmed."),
    completedAt: z.iso.datetime().optional().describe("When the last VM was restarted."),
    vmsToRestart: z.int().min(0).optional().describe("HA-enabled VMs that were on the host."),
    vmsRestarted: z.int().min(0).optional().describe("Of those, VMs running elsewhere."),
    restartingGroup: z.enum(restartPriorities).optional().describe("The priority group being restarted now."),
    groupStartsAt: z.iso.datetime().optional().describe("When the current priority group may start (restartOrder.delaySeconds after the previous one)."),
    vmsNotRestartable: z.int().min(0).optional().describe("HA-enabled VMs that cannot run elsewhere (disks on the host's own storage); their Ready condition says so."),
    message: z.string().max(4096).optional().describe("Why a failover is Blocked (e.g. no confirmed fence, no capacity)."),
  })
  .describe("One host's failover.");

export const haPolicyStatus = z
  .object({
    observedGeneration,
    conditions,
    protectedHosts: z.int().min(0).optional().describe("Hosts in the protected pools."),
    protectedVms: z.int().min(0).optional().describe("HA-enabled VMs on those hosts."),
    failoversInProgress: listMap(
      z.array(failover).max(64).optional().describe("Failovers by host: under way, and completed ones whose host has not come back (the host stays fenced until its heartbeat returns)."),
      "host",
    ),
    failoversCompleted: z.int().min(0).optional().describe("Failovers completed since the policy was created."),
    lastFailover: failover.optional().describe("The most recently completed failover."),
  })
  .describe("Observed state of the HAPolicy.");

export type HAPolicySpec = z.output<typeof haPolicySpec>;
export type HAPolicyStatus = z.output<typeof haPolicyStatus>;
export type HAPolicy = Resource<HAPolicySpec, HAPolicyStatus>;

export const haPolicyKind: KindDefinition = {
  kind: "HAPolicy",
  plural: "hapolicies",
  shortNames: ["ohapol"],
  scope: "Cluster",
  description: "High availability for HostPools: heartbeats, failure detection, fencing, and restart of a failed host's VMs by priority.",
  spec: haPolicySpec,
  status: haPolicyStatus,
  printerColumns: readyAndAge(
    { name: "Pools", type: "string", jsonPath: ".spec.pools", description: "Protected pools." },
    { name: "Hosts", type: "integer", jsonPath: ".status.protectedHosts", description: "Protected hosts." },
    { name: "VMs", type: "integer", jsonPath: ".status.protectedVms", description: "Protected VMs." },
    { name: "Fencing", type: "boolean", jsonPath: ".spec.fencingRequired", description: "Fencing required before restart." },
    { name: "Failovers", type: "integer", jsonPath: ".status.failoversCompleted", description: "Failovers completed." },
  ),
};
