import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  user: string;
  context?: string;
}

/** A kubeconfig that points at files (not embedded data), so certificates stay on disk only. */
export function kubeconfigYaml(spec: KubeconfigSpec): string {
  const context = spec.context ?? "omnivisor-local";
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "omnivisor-local", cluster: { server: spec.server, "certificate-authority": spec.caFile } }],
    users: [{ name: spec.user, user: { "client-certificate": spec.certFile, "client-key": spec.keyFile } }],
    contexts: [{ name: context, context: { cluster: "omnivisor-local", user: spec.user } }],
    "current-context": context,
  });
}

export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  await writeFile(path, kubeconfigYaml(spec), { mode: 0o600 });
}
