// Turns zod's JSON Schema (2020-12) into a Kubernetes structural OpenAPI v3 schema: no $ref, no
// `additionalProperties: false`, `const` as a one-value enum, int-or-string quantities, numeric
// exclusive bounds as booleans, and a description required on every field (kubectl explain).
import { z } from "zod";

export type Schema = { [key: string]: unknown };

const safeIntegerBound = Number.MAX_SAFE_INTEGER;

export class NotStructuralError extends Error {
  override name = "NotStructuralError";
}

/** JSON Schema of a zod schema as the API server receives it (defaults optional, as on input). */
export function structuralSchema(schema: z.ZodType, path: string): Schema {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "throw" }) as Schema;
  delete json.$schema;
  return structural(json, path);
}

/**
 * Kubernetes structural schema of one node. Inside a list item (`inList`) no default is stored:
 * kubectl sends a JSON merge patch for custom resources, which replaces a list whole, so a
 * server-filled default inside a list item differs from the user's file on every apply and
 * `kubectl apply` would say `configured` for an unchanged manifest (issue #18). Such a default
 * is documented in the field's description instead and applied by whoever reads the field
 * (a vApp member's VM spec gets its defaults from the VirtualMachine schema when it is created).
 */
export function structural(node: Schema, path: string, inList = false): Schema {
  if ("$ref" in node || "$defs" in node) throw new NotStructuralError(`${path}: $ref is not allowed in a CRD schema`);
  if (Array.isArray(node.anyOf)) return inListDefault(intOrString(node, path), inList);
  if (typeof node.type !== "string") {
    throw new NotStructuralError(`${path}: needs exactly one type (only integer-or-string unions are supported), got ${JSON.stringify(node.type)}`);
  }
  if ("oneOf" in node || "allOf" in node) throw new NotStructuralError(`${path}: oneOf / allOf are not supported`);
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "propertyNames") continue; // map keys are strings in Kubernetes anyway
    if (key === "additionalProperties" && value === false) continue; // pruning already drops unknown fields
    if (key === "const") {
      out.enum = [value];
      continue;
    }
    out[key] = value;
  }
  inListDefault(out, inList);
  dropSafeIntegerBounds(out);
  exclusiveBoundsAsBooleans(out);
  if (out.format === "date-time") delete out.pattern; // the server validates the format; zod's regex is redundant
  if (isSchema(out.properties)) {
    const props: Schema = {};
    for (const [name, child] of Object.entries(out.properties)) {
      const childPath = `${path}.${name}`;
      const converted = structural(child as Schema, childPath, inList);
      if (typeof converted.description !== "string" || converted.description.length === 0) {
        throw new NotStructuralError(`${childPath}: every field needs a description (.describe())`);
      }
      props[name] = converted;
    }
    out.properties = props;
  }
  if (isSchema(out.items)) out.items = structural(out.items, `${path}[]`, true);
  if (isSchema(out.additionalProperties)) out.additionalProperties = structural(out.additionalProperties, `${path}{}`, inList);
  return out;
}

/** zod's union of an integer and a quantity string becomes Kubernetes' int-or-string. */
function intOrString(node: Schema, path: string): Schema {
  const branches = node.anyOf as Schema[];
  const types = branches.map((b) => b.type).sort();
  if (branches.length !== 2 || types[0] !== "integer" || types[1] !== "string") {
    throw new NotStructuralError(`${path}: only integer-or-string unions are supported, got ${JSON.stringify(types)}`);
  }
  const text = branches.find((b) => b.type === "string")!;
  const integer = branches.find((b) => b.type === "integer")!;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) if (key !== "anyOf") out[key] = value;
  out.anyOf = [{ type: "integer" }, { type: "string" }];
  if (typeof integer.minimum === "number" && integer.minimum !== -safeIntegerBound) out.minimum = integer.minimum;
  if (typeof text.pattern === "string") out.pattern = text.pattern;
  if (typeof text.maxLength === "number") out.maxLength = text.maxLength;
  out["x-kubernetes-int-or-string"] = true;
  return out;
}

/** Inside a list item, moves a default into the description ("Default: …") unless it says so already. */
function inListDefault(s: Schema, inList: boolean): Schema {
  if (!inList || !("default" in s)) return s;
  const text = typeof s.description === "string" ? s.description : "";
  if (!/\bdefault\b/i.test(text)) s.description = `${text}${text ? " " : ""}Default: ${JSON.stringify(s.default)}.`;
  delete s.default;
  return s;
}

function dropSafeIntegerBounds(s: Schema): void {
  if (s.type !== "integer") return;
  if (s.minimum === -safeIntegerBound) delete s.minimum;
  if (s.maximum === safeIntegerBound) delete s.maximum;
}

function exclusiveBoundsAsBooleans(s: Schema): void {
  if (typeof s.exclusiveMinimum === "number") {
    s.minimum = s.exclusiveMinimum;
    s.exclusiveMinimum = true;
  }
  if (typeof s.exclusiveMaximum === "number") {
    s.maximum = s.exclusiveMaximum;
    s.exclusiveMaximum = true;
  }
}

function isSchema(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
