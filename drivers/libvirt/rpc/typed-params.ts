// virTypedParameter on the wire (remote_typed_param): a field name and a discriminated value.
import { TypedParam } from "./procedures.ts";
import type { XdrReader, XdrWriter } from "./xdr.ts";

export type TypedValue = number | bigint | boolean | string;
export interface TypedParameter {
  field: string;
  value: TypedValue;
  /** Defaults: string → String, boolean → Boolean, bigint → ULLong, number → UInt. */
  type?: number;
}

export function writeTypedParam(w: XdrWriter, p: TypedParameter): void {
  w.string(p.field);
  const type = p.type ?? defaultType(p.value);
  w.int(type);
  switch (type) {
    case TypedParam.Int:
      w.int(Number(p.value));
      break;
    case TypedParam.UInt:
      w.uint(Number(p.value));
      break;
    case TypedParam.LLong:
      w.hyper(BigInt(p.value));
      break;
    case TypedParam.ULLong:
      w.uhyper(BigInt(p.value));
      break;
    case TypedParam.Double:
      w.double(Number(p.value));
      break;
    case TypedParam.Boolean:
      w.bool(Boolean(p.value));
      break;
    case TypedParam.String:
      w.string(String(p.value));
      break;
    default:
      throw new Error(`typed parameter ${p.field}: unknown type ${type}`);
  }
}

export function readTypedParam(r: XdrReader): TypedParameter {
  const field = r.string();
  const type = r.int();
  const value = readValue(r, type);
  return { field, type, value };
}

function readValue(r: XdrReader, type: number): TypedValue {
  switch (type) {
    case TypedParam.Int:
      return r.int();
    case TypedParam.UInt:
      return r.uint();
    case TypedParam.LLong:
      return r.hyper();
    case TypedParam.ULLong:
      return r.uhyper();
    case TypedParam.Double:
      return r.double();
    case TypedParam.Boolean:
      return r.bool();
    case TypedParam.String:
      return r.string();
    default:
      throw new Error(`typed parameter of unknown type ${type}`);
  }
}

function defaultType(v: TypedValue): number {
  if (typeof v === "string") return TypedParam.String;
  if (typeof v === "boolean") return TypedParam.Boolean;
  if (typeof v === "bigint") return TypedParam.ULLong;
  return TypedParam.UInt;
}
