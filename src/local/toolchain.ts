// Where the Go-built tools live. The versions and cache layout are defined once, in
// scripts/versions.sh (the shell scripts source it); this module reads the same file.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "..", "..");

export interface Toolchain {
  kubeVersion: string;
  etcdVersion: string;
  cache: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  etcd: string;
  vcsim: string;
  govc: string;
  /** sigs.k8s.io/cli-utils' kstatus over objects given as JSON (tools/kstatus; tests only). */
  kstatus: string;
  helm: string;
  supervise: string;
}

/** Parses the KEY=VALUE lines of scripts/versions.sh, expanding $VAR and ${VAR:-default}. */
export function parseVersions(text: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  const lookup = (name: string): string | undefined => vars[name] ?? env[name];
  const expand = (value: string): string =>
    value
      .replace(/\$\{(\w+):-([^}]*)\}/g, (_m, name: string, fallback: string) => lookup(name) || expand(fallback))
      .replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => lookup((a ?? b)!) ?? "");
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = expand(m[2]!.replace(/^"(.*)"$/, "$1"));
  }
  return vars;
}

export function toolchain(env: NodeJS.ProcessEnv = process.env): Toolchain {
  const v = parseVersions(readFileSync(join(repoRoot, "scripts", "versions.sh"), "utf8"), {
    HOME: homedir(),
    ...env,
  });
  const need = (k: string): string => {
    const value = v[k];
    if (!value) throw new Error(`scripts/versions.sh does not define ${k}`);
    return value;
  };
  const kubeBin = need("KUBE_BIN");
  const etcdBin = need("ETCD_BIN");
  const vcsimBin = need("VCSIM_BIN");
  return {
    kubeVersion: need("KUBE_VERSION"),
    etcdVersion: need("ETCD_VERSION"),
    cache: need("OMNIVISOR_CACHE"),
    kubeApiserver: join(kubeBin, "kube-apiserver"),
    kubeControllerManager: join(kubeBin, "kube-controller-manager"),
    kubectl: join(kubeBin, "kubectl"),
    etcd: join(etcdBin, "etcd"),
    vcsim: join(vcsimBin, "vcsim"),
    govc: join(vcsimBin, "govc"),
    kstatus: join(need("KSTATUS_BIN"), "kstatus"),
    helm: join(need("HELM_BIN"), "helm"),
    supervise: join(need("OMNIVISOR_CACHE"), "bin", "supervise"),
  };
}

/** Throws an error naming every missing tool and how to build it. */
export function requireTools(tc: Toolchain, names: (keyof Toolchain)[]): void {
  const missing = names.filter((n) => !existsSync(tc[n]));
  if (missing.length > 0) {
    throw new Error(
      `missing tools: ${missing.map((n) => `${n} (${tc[n]})`).join(", ")} — run \`make tools\` (scripts/build-tools.sh) to build them`,
    );
  }
}
