// What the CRD generator needs to know about a kind beyond its schema: names, scope and the
// printer columns. Kept beside each kind's schema, in its own file.
import type { z } from "zod";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  /** 0 = shown by `kubectl get`; 1 = only with `-o wide`. */
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
  /** One paragraph: what the object is, for `kubectl explain <kind>`. */
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /** Fields `kubectl get --field-selector` (and the operator's lists) may select on, besides name and namespace. */
  selectableFields?: { jsonPath: string }[];
  /**
   * Longest name an object of the kind may have, when names the operator derives from it need it
   * shorter than Kubernetes' 253 (a label value, a derived object name).
   */
  maxNameLength?: number;
}

export const group = "omnivisor.io";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

/** Ready and Age close every table; the kind's own columns come first. */
export function readyAndAge(...columns: PrinterColumn[]): PrinterColumn[] {
  return [
    ...columns,
    { name: "Ready", type: "string", jsonPath: `.status.conditions[?(@.type=="Ready")].status`, description: "Whether the object is ready." },
    { name: "Reason", type: "string", jsonPath: `.status.conditions[?(@.type=="Ready")].reason`, description: "Why it is (not) ready; Stalled or Reconciling say whether it is stuck.", priority: 1 },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Time since creation." },
  ];
}

/** The object as stored (defaults applied): what controllers read. */
export interface Resource<Spec, Status> {
  apiVersion: typeof apiVersion;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec: Spec;
  status?: Status;
}
