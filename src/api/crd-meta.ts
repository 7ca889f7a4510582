// CRD-only metadata attached to zod schemas through `.meta()`: CEL rules, list types, int-or-string.
// zod carries these keys through z.toJSONSchema untouched, so the schema stays the one place where
// a field, its documentation and its server-side rules are written (ADR 0006).
import type { z } from "zod";

export interface CelRule {
  /** CEL expression; `self` is the field the rule is attached to. */
  rule: string;
  /** Message shown to the user when the rule fails. */
  message: string;
  /** JSON path (relative to the field) of the field the error names, e.g. `.credentialsSecretRef`. */
  fieldPath?: string;
  /** Kubernetes cause reason, e.g. FieldValueRequired, FieldValueForbidden, FieldValueInvalid. */
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

type Meta = Record<string, unknown>;

function merged<T extends z.ZodType>(schema: T, extra: Meta): T {
  const current: Meta = schema.meta() ?? {};
  return schema.meta({ ...current, ...extra });
}

/** Adds CEL validation rules (`x-kubernetes-validations`), keeping rules added before. */
export function cel<T extends z.ZodType>(schema: T, ...rules: CelRule[]): T {
  const current = ((schema.meta() ?? {}) as Meta)["x-kubernetes-validations"] as CelRule[] | undefined;
  return merged(schema, { "x-kubernetes-validations": [...(current ?? []), ...rules] });
}

/** The field cannot change once set (a Host's driver, a VM's adopted identity). */
export function immutable<T extends z.ZodType>(schema: T, what: string): T {
  return cel(schema, { rule: "self == oldSelf", message: `${what} is immutable`, reason: "FieldValueForbidden" });
}

/** A list whose items are identified by keys (server-side apply merges by key; keys are unique). */
export function listMap<T extends z.ZodType>(schema: T, ...keys: string[]): T {
  return merged(schema, { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys });
}

/** A list of unique scalars. */
export function listSet<T extends z.ZodType>(schema: T): T {
  return merged(schema, { "x-kubernetes-list-type": "set" });
}
