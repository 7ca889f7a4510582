// Field shapes every kind uses: names of other objects, Secret references, label selectors,
// quantities, drivers. Limits (maxLength / maxItems) keep the CEL rules' estimated cost bounded.
import { z } from "zod";
import { cel, listSet } from "./crd-meta.ts";

export const drivers = ["libvirt", "esxi", "xenserver", "hyperv", "docker"] as const;
export type DriverName = (typeof drivers)[number];

export function driver(description: string) {
  return z.enum(drivers).describe(description);
}

/** A Kubernetes object name (DNS-1123 subdomain). */
export function objectName(description: string) {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
    .describe(description);
}

/** A DNS-1123 label: names inside a list (disks, NICs, vApp members). */
export function labelName(description: string) {
  return z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .describe(description);
}

export function nameList(description: string, itemDescription: string, maxItems = 64, minItems = 0) {
  return listSet(z.array(objectName(itemDescription)).min(minItems).max(maxItems).describe(description));
}

// Kubernetes' resource.Quantity grammar (as controller-gen emits it), without the minus sign:
// memory and storage are never negative.
const quantityPattern = /^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A non-negative Kubernetes quantity: "512Mi", "20Gi" or a plain number of bytes. */
export function quantity(description: string) {
  return z.union([z.int().min(0), z.string().max(64).regex(quantityPattern)]).describe(description);
}

export const secretKeyRef = z
  .object({
    name: objectName("Name of the Secret."),
    namespace: objectName("Namespace of the Secret."),
  })
  .describe("A Secret in a given namespace.");

export const localSecretRef = z
  .object({
    name: objectName("Name of the Secret, in the same namespace as this object."),
    key: z.string().min(1).max(253).default("userdata").describe("Key inside the Secret whose value is used."),
  })
  .describe("A key of a Secret in this object's namespace.");

const selectorRequirement = cel(
  z
    .object({
      key: z.string().min(1).max(317).describe("The label key the requirement applies to."),
      operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]).describe("How the key relates to the values."),
      values: listSet(z.array(z.string().max(63).describe("A label value.")).max(32).optional().describe("Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.")),
    })
    .describe("A label selector requirement: key, operator and values."),
  {
    rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
    message: "values must be non-empty for In and NotIn and empty for Exists and DoesNotExist",
    fieldPath: ".values",
    reason: "FieldValueInvalid",
  },
);

export function labelSelector(description: string) {
  return z
    .object({
      matchLabels: z.record(z.string().max(317), z.string().max(63)).optional().describe("Labels that must all match exactly."),
      matchExpressions: z.array(selectorRequirement).max(16).optional().describe("Requirements that must all hold."),
    })
    .describe(description);
}

/** Seconds with explicit bounds (every duration in the API is whole seconds). */
export function seconds(description: string, min: number, max: number, fallback: number) {
  return z.int().min(min).max(max).default(fallback).describe(description);
}
