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

/**
 * A non-negative Kubernetes quantity of bytes: "512Mi", "20Gi" or a plain number — a whole number
 * of bytes ("0.5" or "100m" is a fraction of a byte, and means nothing).
 */
export function quantity(description: string) {
  return cel(z.union([z.int().min(0), z.string().max(64).regex(quantityPattern)]).describe(description), {
    // A whole number with no suffix or a binary / decimal one is whole by its spelling. CEL's
    // isInteger() alone says false for large ones and for decimal mantissas ("134217952Mi",
    // "100000Gi", "1.5Gi": resource.Quantity keeps them as decimals, which AsInt64 refuses): the
    // others are whole when their value is (as a float: exact below 2^53 bytes; any float above is whole).
    rule: "type(self) == int || self.matches('^[+]?[0-9]+([KMGTPE]i|[kMGTPE])?$') || quantity(self).isInteger() || quantity(self).asApproximateFloat() >= 9007199254740992.0 || double(int(quantity(self).asApproximateFloat())) == quantity(self).asApproximateFloat()",
    message: "must be a whole number of bytes (e.g. 512Mi, 20Gi), not a fraction of a byte",
    reason: "FieldValueInvalid",
  });
}

/** A quantity of bytes that must be more than zero (a VM's memory, a disk's size). */
export function positiveQuantity(description: string) {
  return cel(quantity(description), {
    rule: "type(self) == int ? self > 0 : quantity(self).isGreaterThan(quantity('0'))",
    message: "must be more than zero bytes",
    reason: "FieldValueInvalid",
  });
}

/**
 * A URL endpoint whose port, when it names one, is a TCP port (1–65535): tcp://host:70000 is refused
 * by the API server instead of failing at connect time.
 */
export function endpointPort<T extends z.ZodType>(schema: T, what: string): T {
  return cel(schema, {
    rule: "!isURL(self) || url(self).getPort() == '' || (int(url(self).getPort()) >= 1 && int(url(self).getPort()) <= 65535)",
    message: `the port of ${what} must be between 1 and 65535`,
    reason: "FieldValueInvalid",
  });
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
