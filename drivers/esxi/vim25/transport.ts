// One SOAP request over HTTPS: POST the envelope, carry the session cookie, turn HTTP 500
// soapenv:Fault into VimFault and socket trouble into VimTransportError. Nothing here logs, and
// no error message includes a request body (the Login body carries the password).
import { request, type Agent } from "node:https";
import { VimFault, VimTlsError, VimTransportError, faultFromSoap } from "./faults.ts";
import { child, parseXml, type XmlElement } from "./xml.ts";

const tlsTrustCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

export interface SoapResponse {
  /** The <MethodResponse> element. */
  body: XmlElement;
  /** The vmware_soap_session cookie when the server set one. */
  sessionCookie: string | undefined;
}

export interface SoapRequest {
  url: URL;
  agent: Agent;
  soapAction: string;
  method: string;
  xml: string;
  cookie: string | undefined;
  signal: AbortSignal | undefined;
  /** A silent peer (blackholed host) fails the call after this long. */
  timeoutMs: number;
}

function transportError(err: Error & { code?: string }): Error {
  if (err instanceof VimTlsError || err instanceof VimTransportError) return err;
  if (err.code && tlsTrustCodes.has(err.code)) {
    return new VimTlsError(
      `server certificate is not trusted (${err.code}): pin its SHA-256 thumbprint or give its CA in the Host's credentials Secret, or mark the Host insecure explicitly`,
    );
  }
  return new VimTransportError(`connection failed: ${err.message}`, err.code, { cause: err });
}

export function post(req: SoapRequest): Promise<SoapResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      "Content-Type": "text/xml; charset=utf-8",
      SOAPAction: `"${req.soapAction}"`,
      "Content-Length": Buffer.byteLength(req.xml),
    };
    if (req.cookie) headers["Cookie"] = `vmware_soap_session=${req.cookie}`;
    const r = request(req.url, { method: "POST", agent: req.agent, headers, signal: req.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => reject(transportError(err)));
      res.on("end", () => {
        try {
          resolve(readResponse(req.method, res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), res.headers["set-cookie"]));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    r.setTimeout(req.timeoutMs, () => r.destroy(new VimTransportError(`${req.method}: no answer within ${req.timeoutMs / 1000} s`, "ETIMEDOUT")));
    r.on("error", (err) => reject(transportError(err)));
    r.end(req.xml);
  });
}

function readResponse(method: string, status: number, text: string, setCookie: string[] | undefined): SoapResponse {
  let doc: XmlElement;
  try {
    doc = parseXml(text);
  } catch {
    throw new VimTransportError(`${method}: HTTP ${status} with a body that is not XML`, `HTTP_${status}`);
  }
  const body = child(doc, "Body");
  const first = body?.children[0];
  if (!first) throw new VimTransportError(`${method}: HTTP ${status} without a SOAP body`, `HTTP_${status}`);
  if (first.name === "Fault") throw faultFromSoap(method, first);
  if (status !== 200) throw new VimTransportError(`${method}: HTTP ${status}`, `HTTP_${status}`);
  const cookie = setCookie?.map((c) => /vmware_soap_session=([^;]+)/.exec(c)?.[1]).find((c) => c !== undefined);
  return { body: first, sessionCookie: cookie };
}

export function isNotAuthenticated(err: unknown): boolean {
  return err instanceof VimFault && err.fault === "NotAuthenticated";
}
