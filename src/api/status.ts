// The status every kind shares: observedGeneration and the Ready / Synced conditions, shaped like
// metav1.Condition so generic tooling (kubectl wait, Argo CD health checks) reads them.
import { z } from "zod";
import { listMap } from "./crd-meta.ts";
import { quantity } from "./fields.ts";

export const condition = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe("Condition type in CamelCase: Ready, Synced, and per-kind types such as Reachable or Fenced."),
    status: z.enum(["True", "False", "Unknown"]).describe("Whether the condition holds."),
    observedGeneration: z.int().min(0).optional().describe("The metadata.generation this condition was computed from."),
    lastTransitionTime: z.iso.datetime().describe("When the status last changed (RFC 3339)."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe("Programmatic identifier in CamelCase for the last transition, e.g. ReconcileSuccess."),
    message: z.string().max(32768).describe("Human-readable detail of the last transition; may be empty."),
  })
  .describe("An observation of one aspect of the object's state.");

export type Condition = z.output<typeof condition>;

export const conditions = listMap(
  z.array(condition).max(16).optional().describe("Current conditions: Ready and Synced on every kind, plus kind-specific ones."),
  "type",
);

export const observedGeneration = z
  .int()
  .min(0)
  .optional()
  .describe("The metadata.generation the controller last acted on; equal to generation when status is current.");

/** Capacity figures: CPUs, memory and storage. */
export function resources(description: string) {
  return z
    .object({
      cpus: z.int().min(0).optional().describe("Virtual or physical CPUs."),
      memory: quantity("Memory as a Kubernetes quantity, e.g. 64Gi.").optional(),
      storage: quantity("Storage as a Kubernetes quantity, e.g. 2Ti.").optional(),
    })
    .describe(description);
}
