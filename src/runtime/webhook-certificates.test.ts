import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { issueCertificates, needsRenewal, serviceNames, type CertificatePolicy } from "./webhook-certificates.ts";

const policy: CertificatePolicy = { service: "omnivisor-webhook", namespace: "omnivisor-system", validityDays: 365, renewBeforeDays: 30 };
const day = 24 * 3600 * 1000;

describe("webhook certificates", () => {
  it("given nothing, when issued, then the serving certificate names the Service, is signed by the CA and needs nothing more", async () => {
    expect(needsRenewal({}, policy)).toEqual({ reason: "no CA yet", ca: true });
    const certs = await issueCertificates({}, policy, true);
    const serving = new X509Certificate(certs["tls.crt"]);
    const ca = new X509Certificate(certs["ca.crt"]);
    expect(serving.verify(ca.publicKey)).toBe(true);
    for (const name of serviceNames(policy.service, policy.namespace)) expect(serving.checkHost(name, { subject: "never" })).toBe(name);
    expect(serving.ca).toBe(false);
    expect(ca.ca).toBe(true);
    expect(Math.round((serving.validToDate.getTime() - Date.now()) / day)).toBe(365);
    expect(Math.round((ca.validToDate.getTime() - Date.now()) / day)).toBe(3650);
    expect(needsRenewal(certs, policy)).toBeUndefined();
  });

  it("given certificates, when the serving one nears its end, then only it is renewed, by the same CA", async () => {
    const certs = await issueCertificates({}, policy, true);
    const later = Date.now() + 340 * day;
    expect(needsRenewal(certs, policy, later)).toEqual({ reason: "the serving certificate ends soon", ca: false });
    const renewed = await issueCertificates(certs, policy, false);
    expect(renewed["ca.crt"]).toBe(certs["ca.crt"]);
    expect(renewed["ca.key"]).toBe(certs["ca.key"]);
    expect(renewed["tls.crt"]).not.toBe(certs["tls.crt"]);
    expect(new X509Certificate(renewed["tls.crt"]).verify(new X509Certificate(certs["ca.crt"]).publicKey)).toBe(true);
  });

  it("given the CA nears its end, when renewed, then a new CA signs and the bundle still trusts the old one", async () => {
    const certs = await issueCertificates({}, policy, true);
    expect(needsRenewal(certs, policy, Date.now() + 3300 * day)).toEqual({ reason: "the CA ends soon", ca: true });
    const renewed = await issueCertificates(certs, policy, true);
    expect(renewed["ca.crt"].endsWith(certs["ca.crt"])).toBe(true);
    expect(renewed["ca.crt"].length).toBeGreaterThan(certs["ca.crt"].length);
    expect(needsRenewal(renewed, policy)).toBeUndefined();
  });

  it("given a Service renamed, then the certificate is renewed for the new names", async () => {
    const certs = await issueCertificates({}, policy, true);
    expect(needsRenewal(certs, { ...policy, service: "other" })?.reason).toBe("the serving certificate does not name other");
  });

  it("given a serving certificate from another CA, then it is not used", async () => {
    const a = await issueCertificates({}, policy, true);
    const b = await issueCertificates({}, policy, true);
    expect(needsRenewal({ ...a, "tls.crt": b["tls.crt"] }, policy)?.reason).toBe("the serving certificate is not signed by the CA");
  });
});
