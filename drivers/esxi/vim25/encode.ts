// Encodes request arguments as vim25 XML. Object key order is the XSD sequence order (real ESXi
// rejects out-of-order elements), so callers write fields in the order the vim25 WSDL lists them.
import { escapeXml } from "./xml.ts";

/** A managed object reference, e.g. { type: "VirtualMachine", value: "12" }. */
export interface MoRef {
  readonly type: string;
  readonly value: string;
}

const moRefBrand = Symbol("MoRef");

export function moRef(type: string, value: string): MoRef {
  return Object.freeze({ type, value, [moRefBrand]: true });
}

function isMoRef(v: object): v is MoRef {
  return moRefBrand in v;
}

/** A data object with an explicit xsi:type (needed where the WSDL declares a base type). */
export interface Typed {
  readonly $type: string;
  readonly [field: string]: Arg;
}

export type Arg = string | number | boolean | MoRef | Typed | { readonly [field: string]: Arg } | readonly Arg[] | undefined;

export function encode(name: string, value: Arg): string {
  if (value === undefined) return "";
  if (Array.isArray(value)) return (value as readonly Arg[]).map((v) => encode(name, v)).join("");
  if (typeof value === "string") return `<${name}>${escapeXml(value)}</${name}>`;
  if (typeof value === "number" || typeof value === "boolean") return `<${name}>${String(value)}</${name}>`;
  if (isMoRef(value)) return `<${name} type="${escapeXml(value.type)}">${escapeXml(value.value)}</${name}>`;
  const record = value as Record<string, Arg>;
  const type = typeof record["$type"] === "string" ? ` xsi:type="${escapeXml(record["$type"])}"` : "";
  // A typed scalar, e.g. OptionValue.value (xsd:anyType): { $type: "xsd:string", $text: "..." }.
  if (typeof record["$text"] === "string") return `<${name}${type}>${escapeXml(record["$text"])}</${name}>`;
  const body = Object.entries(record)
    .filter(([k]) => k !== "$type")
    .map(([k, v]) => encode(k, v))
    .join("");
  return `<${name}${type}>${body}</${name}>`;
}

/** A SOAP 1.1 envelope for one vim25 method call on `target`. */
export function envelope(method: string, target: MoRef, args: Record<string, Arg>): string {
  const body = encode("_this", target) + Object.entries(args).map(([k, v]) => encode(k, v)).join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
    `xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    `<soapenv:Body><${method} xmlns="urn:vim25">${body}</${method}></soapenv:Body></soapenv:Envelope>`
  );
}
