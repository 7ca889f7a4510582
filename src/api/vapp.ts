// VApp: N VMs provisioned in parallel, then powered on at once or in ordered groups.
import { z } from "zod";
import { cel, listMap, listSet } from "./crd-meta.ts";
import { labelName } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { conditions, observedGeneration } from "./status.ts";
import { virtualMachineTemplateSpec, vmPhases } from "./virtual-machine.ts";

const member = z
  .object({
    name: labelName("Member name; the VirtualMachine is named <vapp>-<member>."),
    labels: z.record(z.string().max(317), z.string().max(63)).optional().describe("Labels of the member's VirtualMachine (affinity rules match them)."),
    spec: virtualMachineTemplateSpec,
  })
  .describe("A VM of the vApp.");

const startGroup = z
  .object({
    name: labelName("Group name."),
    members: listSet(z.array(labelName("A member name (spec.members[].name).")).min(1).max(64).describe("Members powered on together in this group.")),
    delaySeconds: z.int().min(0).max(3600).optional().describe("Seconds to wait after the previous group before powering on this one; default 0."),
    waitFor: z
      .enum(["Started", "Ready"])
      .optional()
      .describe("The previous group is done when its VMs are started, or when they are Ready; default Started."),
  })
  .describe("A start-order group.");

export const vAppSpec = cel(
  z
    .object({
      members: listMap(z.array(member).min(1).max(64).describe("The vApp's VMs, provisioned in parallel."), "name"),
      startOrder: listMap(
        z.array(startGroup).max(16).optional().describe("Ordered power-on groups; absent = all members at once. Members in no group start last."),
        "name",
      ),
      powerState: z.enum(["Running", "Stopped"]).default("Running").describe("Desired power state of the whole vApp (stops in reverse order)."),
      failurePolicy: z
        .enum(["Rollback", "Keep"])
        .default("Rollback")
        .describe("When a member fails to provision or start: Rollback deletes what was created; Keep leaves it for inspection."),
    })
    .describe("Desired state of the VApp."),
  {
    rule: "!has(self.startOrder) || self.startOrder.all(g, g.members.all(m, self.members.exists(v, v.name == m)))",
    message: "every startOrder member must name one of spec.members",
    fieldPath: ".startOrder",
    reason: "FieldValueInvalid",
  },
  {
    rule: "!has(self.startOrder) || self.startOrder.all(g, g.members.all(m, self.startOrder.filter(o, m in o.members).size() == 1))",
    message: "a member is in at most one startOrder group",
    fieldPath: ".startOrder",
    reason: "FieldValueDuplicate",
  },
);

export const vAppStatus = z
  .object({
    observedGeneration,
    conditions,
    phase: z
      .enum(["Pending", "Provisioning", "Starting", "Running", "Stopping", "Stopped", "RollingBack", "Failed"])
      .optional()
      .describe("Where the vApp is."),
    ready: z.int().min(0).optional().describe("Members whose VirtualMachine is Ready."),
    groups: listMap(
      z
        .array(
          z
            .object({
              name: z.string().min(1).max(63).describe("Group name (spec.startOrder[].name); (all) when there is no startOrder, (rest) for the members in no group."),
              poweredOnAt: z.iso.datetime().optional().describe("When the group's members were asked to power on."),
              startedAt: z.iso.datetime().optional().describe("When every member of the group was started (or Ready, per the group's waitFor): the next group's delay counts from here."),
            })
            .describe("Where one start-order group is."),
        )
        .max(17)
        .optional()
        .describe("Start-order groups powered on so far, in start order; a group leaves this list when it has been stopped."),
      "name",
    ),
    failure: z
      .object({
        member: labelName("The member that failed."),
        reason: z.string().min(1).max(128).describe("Why, in CamelCase: Unschedulable, ProvisioningFailed, ProvisioningTimedOut, StartFailed, StartTimedOut, NameTaken or Refused."),
        message: z.string().max(4096).describe("What happened, in words."),
        generation: z.int().min(0).describe("The metadata.generation that failed; a later edit of the spec tries again."),
      })
      .optional()
      .describe("The member failure that made the vApp Failed (and rolled back under failurePolicy Rollback)."),
    total: z.int().min(0).optional().describe("Members in the vApp."),
    members: listMap(
      z
        .array(
          z
            .object({
              name: labelName("Member name."),
              virtualMachine: z.string().max(253).optional().describe("Name of the member's VirtualMachine."),
              phase: z.enum(vmPhases).optional().describe("Phase of that VirtualMachine."),
            })
            .describe("State of one member."),
        )
        .max(64)
        .optional()
        .describe("State of each member."),
      "name",
    ),
  })
  .describe("Observed state of the VApp.");

/**
 * A member as stored: its VM spec sits inside a list item, so the API server fills none of its
 * defaults there (structural.ts says why); they are filled when the member's VirtualMachine is created.
 */
export type VAppMember = Omit<z.output<typeof member>, "spec"> & { spec: z.input<typeof virtualMachineTemplateSpec> };
export type VAppSpec = Omit<z.output<typeof vAppSpec>, "members"> & { members: VAppMember[] };
export type VAppStatus = z.output<typeof vAppStatus>;
export type VApp = Resource<VAppSpec, VAppStatus>;

export const vAppKind: KindDefinition = {
  kind: "VApp",
  plural: "vapps",
  shortNames: ["ovapp"],
  scope: "Namespaced",
  description: "A group of VMs provisioned together and powered on at once or in ordered groups, with a failure policy. Its name is at most 63 characters: its VMs carry it as a label value.",
  spec: vAppSpec,
  status: vAppStatus,
  // its VMs carry the name as a label value (omnivisor.io/vapp) and are named <vapp>-<member>
  maxNameLength: 63,
  printerColumns: readyAndAge(
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Where the vApp is." },
    { name: "Ready VMs", type: "integer", jsonPath: ".status.ready", description: "Members Ready." },
    { name: "Total", type: "integer", jsonPath: ".status.total", description: "Members." },
    { name: "Failure Policy", type: "string", jsonPath: ".spec.failurePolicy", description: "Rollback or Keep.", priority: 1 },
  ),
};
