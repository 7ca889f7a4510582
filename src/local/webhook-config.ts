// The ValidatingWebhookConfiguration of the VDCQuota webhook, as the local control plane (make
// run), the tests and the benchmark register it: failurePolicy Fail (creates fail closed while no
// manager serves it), sideEffects NoneOnDryRun (a dry run is checked, never charged), called only
// for creates and for updates that change spec (finalizer and metadata writes never wait on it).
import { readFileSync } from "node:fs";

export const quotaWebhookName = "vdcquota.omnivisor.io";

export interface QuotaWebhookOptions {
  /** Name of the configuration object. */
  name: string;
  /** https://host:port/validate-quota */
  url: string;
  /** The CA certificate (PEM file) that signed the webhook's serving certificate. */
  caFile: string;
  /** Only namespaces with these labels (default: every namespace but kube-system and omnivisor-system). */
  namespaceLabels?: Record<string, string>;
  timeoutSeconds?: number;
}

export function quotaWebhookConfiguration(o: QuotaWebhookOptions): object {
  const namespaceSelector = o.namespaceLabels
    ? { matchLabels: o.namespaceLabels }
    : { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "omnivisor-system"] }] };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: o.name },
    webhooks: [
      {
        name: quotaWebhookName,
        clientConfig: { url: o.url, caBundle: Buffer.from(readFileSync(o.caFile)).toString("base64") },
        rules: [{ apiGroups: ["omnivisor.io"], apiVersions: ["v1alpha1"], operations: ["CREATE", "UPDATE"], resources: ["virtualmachines", "vapps"], scope: "Namespaced" }],
        matchConditions: [{ name: "creates-and-spec-changes", expression: "request.operation == 'CREATE' || object.spec != oldObject.spec" }],
        namespaceSelector,
        failurePolicy: "Fail",
        sideEffects: "NoneOnDryRun",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: o.timeoutSeconds ?? 10,
      },
    ],
  };
}
