// VMMigration: a request to move one VirtualMachine to another host, live (or cold), and the record
// of how it went. The VirtualMachine controller stays the only writer of the VM's host; this kind
// asks it (controllers/README.md, "Moves").
import { z } from "zod";
import { cel, immutable } from "./crd-meta.ts";
import { objectName } from "./fields.ts";
import type { KindDefinition, PrinterColumn, Resource } from "./kind.ts";
import { conditions, observedGeneration } from "./status.ts";

export const migrationPhases = ["Pending", "Scheduling", "Running", "Succeeded", "Failed", "Cancelled"] as const;
export type MigrationPhase = (typeof migrationPhases)[number];
/** Phases after which nothing happens any more. */
export const finishedPhases: readonly MigrationPhase[] = ["Succeeded", "Failed", "Cancelled"];

export const vmMigrationSpec = immutable(
  cel(
    z
      .object({
        virtualMachine: objectName("Name of the VirtualMachine to move, in this namespace."),
        targetHost: objectName("Host to move the VM to. Absent: placement picks one in the VM's scope (its pool, placement.hosts), never the VM's current host.").optional(),
        live: z
          .boolean()
          .default(true)
          .describe(
            "Move the running guest without stopping it (live migration). false: cold — stop, move, start again (Docker: the container is made again from its image on the target, a restart). A VM that is stopped moves cold either way.",
          ),
        bandwidthMiBps: z
          .int()
          .min(1)
          .max(1_000_000)
          .optional()
          .describe("Limit of the migration's transfer rate in MiB/s (libvirt: the migration bandwidth). Absent: as fast as the network allows."),
      })
      .describe("Desired move. Immutable: to change it, delete the VMMigration (which cancels it) and create another."),
    { rule: "!has(self.bandwidthMiBps) || self.live", message: "bandwidthMiBps applies to live migrations only", fieldPath: ".bandwidthMiBps", reason: "FieldValueInvalid" },
  ),
  "spec",
);

const bytes = (description: string) => z.int().min(0).optional().describe(description);

const progress = z
  .object({
    percent: z.int().min(0).max(100).describe("How far the move got, 0-100, over memory and disk together."),
    memoryTotalBytes: bytes("Guest memory to transfer, in bytes."),
    memoryProcessedBytes: bytes("Guest memory transferred so far (pages dirtied again are counted again)."),
    memoryRemainingBytes: bytes("Guest memory still to transfer."),
    diskTotalBytes: bytes("Disk data to copy (shared-nothing migration)."),
    diskProcessedBytes: bytes("Disk data copied so far."),
    diskRemainingBytes: bytes("Disk data still to copy."),
    observedAt: z.iso.datetime().describe("When the hypervisor's job info was read."),
  })
  .describe("Progress of the running migration, from the hypervisor's job info.");

export const vmMigrationStatus = z
  .object({
    observedGeneration,
    conditions,
    phase: z
      .enum(migrationPhases)
      .optional()
      .describe("Pending (waiting for a slot within the limits), Scheduling (choosing the target: done from the caches in the pass that writes Running, so not normally seen), Running, then Succeeded, Failed or Cancelled."),
    sourceHost: objectName("Host the VM left (its host when the move started).").optional(),
    targetHost: objectName("Host the VM goes to: spec.targetHost, or placement's choice.").optional(),
    mode: z.enum(["Live", "Cold"]).optional().describe("How the VM moves: Live (the guest keeps running) or Cold (stopped, moved, started)."),
    startedAt: z.iso.datetime().optional().describe("When the hypervisor's move started."),
    completedAt: z.iso.datetime().optional().describe("When the move succeeded, failed or was cancelled."),
    progress: progress.optional(),
    downtimeMs: z.int().min(0).optional().describe("How long the guest was paused at the switch-over, where the hypervisor reports it."),
  })
  .describe("Observed state of the VMMigration.");

export type VMMigrationSpec = z.output<typeof vmMigrationSpec>;
export type VMMigrationStatus = z.output<typeof vmMigrationStatus>;
export type VMMigration = Resource<VMMigrationSpec, VMMigrationStatus>;
export type MigrationProgressStatus = z.output<typeof progress>;

const columns: PrinterColumn[] = [
  { name: "VM", type: "string", jsonPath: ".spec.virtualMachine", description: "The VirtualMachine moved." },
  { name: "Source", type: "string", jsonPath: ".status.sourceHost", description: "Host it leaves." },
  { name: "Target", type: "string", jsonPath: ".status.targetHost", description: "Host it goes to." },
  { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Pending, Scheduling, Running, Succeeded, Failed or Cancelled." },
  { name: "Progress", type: "integer", jsonPath: ".status.progress.percent", description: "Percent done while Running." },
  { name: "Mode", type: "string", jsonPath: ".status.mode", description: "Live or Cold.", priority: 1 },
  { name: "Downtime", type: "integer", jsonPath: ".status.downtimeMs", description: "Guest pause at the switch-over, ms.", priority: 1 },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Time since creation." },
];

export const vmMigrationKind: KindDefinition = {
  kind: "VMMigration",
  plural: "vmmigrations",
  shortNames: ["ovmm"],
  scope: "Namespaced",
  description:
    "Moves one VirtualMachine to another host, live or cold, and records how it went (phase, progress, downtime). Deleting a running VMMigration cancels it: the VM stays where it was.",
  spec: vmMigrationSpec,
  status: vmMigrationStatus,
  printerColumns: columns,
  selectableFields: [{ jsonPath: ".spec.virtualMachine" }],
};
