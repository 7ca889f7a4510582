// Direct REST calls to the API server for the API tests: one HTTPS request per manifest is far
// cheaper than a kubectl process on two shared cores, and the Status it returns carries the
// field path of every cause.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { kinds } from "../../src/api/kinds.ts";
import { group, version } from "../../src/api/kind.ts";
import { kubeRequest, type TlsClient } from "../../src/local/kube-http.ts";

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority": string } }[];
  users: { user: { "client-certificate": string; "client-key": string } }[];
}

export function tlsClient(kubeconfigPath: string): TlsClient {
  const config = parse(readFileSync(kubeconfigPath, "utf8")) as Kubeconfig;
  const cluster = config.clusters[0]!.cluster;
  const user = config.users[0]!.user;
  return { server: cluster.server, ca: cluster["certificate-authority"], cert: user["client-certificate"], key: user["client-key"] };
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: unknown;
}

export interface StatusCause {
  field?: string;
  message?: string;
  reason?: string;
}

export interface ApiAnswer {
  status: number;
  message: string;
  causes: StatusCause[];
  object: Manifest | undefined;
}

/** Collection URL of an omnivisor.io object. */
export function collectionPath(m: Manifest): string {
  const kind = kinds.find((k) => k.kind === m.kind);
  if (!kind) throw new Error(`not an omnivisor.io kind: ${m.kind}`);
  const ns = kind.scope === "Namespaced" ? `/namespaces/${m.metadata.namespace ?? "default"}` : "";
  return `/apis/${group}/${version}${ns}/${kind.plural}`;
}

async function call(tls: TlsClient, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await kubeRequest(tls, method, path, body, 30_000);
  const parsed = JSON.parse(res.body) as { kind?: string; message?: string; details?: { causes?: StatusCause[] } };
  const isStatus = parsed.kind === "Status";
  return {
    status: res.status,
    message: isStatus ? (parsed.message ?? "") : "",
    causes: isStatus ? (parsed.details?.causes ?? []) : [],
    object: isStatus ? undefined : (parsed as unknown as Manifest),
  };
}

// Strict field validation, as kubectl apply uses: an unknown (misspelt) field is an error.
const strict = "fieldValidation=Strict";

export function create(tls: TlsClient, m: Manifest, opts: { dryRun: boolean }): Promise<ApiAnswer> {
  return call(tls, "POST", `${collectionPath(m)}?${strict}${opts.dryRun ? "&dryRun=All" : ""}`, m);
}

export function replaceDryRun(tls: TlsClient, m: Manifest): Promise<ApiAnswer> {
  return call(tls, "PUT", `${collectionPath(m)}/${m.metadata.name}?${strict}&dryRun=All`, m);
}

export function read(tls: TlsClient, m: Manifest): Promise<ApiAnswer> {
  return call(tls, "GET", `${collectionPath(m)}/${m.metadata.name}`);
}

export function remove(tls: TlsClient, m: Manifest): Promise<ApiAnswer> {
  return call(tls, "DELETE", `${collectionPath(m)}/${m.metadata.name}`);
}
