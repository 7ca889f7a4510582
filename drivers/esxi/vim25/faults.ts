// vim25 faults as one error class carrying the fault's type name (e.g. "InvalidPowerState"),
// so the driver maps them to the contract's typed errors in one place (../errors.ts).
import { child, type XmlElement, xsiType } from "./xml.ts";

export class VimFault extends Error {
  override name = "VimFault";
  /** The vim25 fault type, e.g. "NotAuthenticated", "InvalidPowerState", "DuplicateName". */
  readonly fault: string;
  /** The method that failed, e.g. "PowerOnVM_Task". */
  readonly method: string;

  constructor(fault: string, method: string, message: string) {
    super(`${method}: ${fault}: ${message}`);
    this.fault = fault;
    this.method = method;
  }
}

/** The connection failed or the server answered with something that is not vim25 (retry later). */
export class VimTransportError extends Error {
  override name = "VimTransportError";
  readonly code: string | undefined;

  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** TLS verification failed; never retried (the certificate will not change by itself). */
export class VimTlsError extends Error {
  override name = "VimTlsError";
}

/** Reads a soapenv:Fault element. */
export function faultFromSoap(method: string, fault: XmlElement): VimFault {
  const message = child(fault, "faultstring")?.text ?? "SOAP fault";
  const detail = child(fault, "detail")?.children[0];
  const type = detail ? (xsiType(detail) ?? detail.name.replace(/Fault$/, "")) : "SystemError";
  return new VimFault(type, method, message);
}

/** Reads a LocalizedMethodFault (TaskInfo.error, missingSet fault). */
export function faultFromLocalized(method: string, localized: XmlElement): VimFault {
  const inner = child(localized, "fault");
  const type = (inner && xsiType(inner)) ?? xsiType(localized) ?? "SystemError";
  const message = child(localized, "localizedMessage")?.text || type;
  return new VimFault(type, method, message);
}
