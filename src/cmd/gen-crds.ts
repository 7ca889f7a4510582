// `make crds`: writes crds/<plural>.omnivisor.io.yaml for every kind from the zod schema and
// removes generated files of kinds that no longer exist (crds/README.md stays); and the argocd-cm
// snippet with the Argo CD health check of every kind.
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { crdFileName, crdYaml } from "../api/crd.ts";
import { kinds } from "../api/kinds.ts";
import { argocdConfigMap } from "../api/argocd.ts";

const dir = resolve(import.meta.dirname, "..", "..", "crds");
const wanted = new Set(kinds.map(crdFileName));
for (const file of readdirSync(dir)) {
  if (file.endsWith(".yaml") && !wanted.has(file)) rmSync(join(dir, file));
}
for (const kind of kinds) {
  writeFileSync(join(dir, crdFileName(kind)), crdYaml(kind));
  console.log(`crds/${crdFileName(kind)}`);
}
const argocd = resolve(import.meta.dirname, "..", "..", "charts", "omnivisor", "files", "argocd");
writeFileSync(join(argocd, "argocd-cm.yaml"), argocdConfigMap(kinds, readFileSync(join(argocd, "health.lua"), "utf8")));
console.log("charts/omnivisor/files/argocd/argocd-cm.yaml");
