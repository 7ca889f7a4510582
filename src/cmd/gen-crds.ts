// `make crds`: writes <plural>.omnivisor.io.yaml for every kind from the zod schema into crds/
// and into the Helm chart's crds/ (charts/omnivisor/crds, the same bytes), and removes generated
// files of kinds that no longer exist (crds/README.md stays); and the argocd-cm snippet with the
// Argo CD health check of every kind.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { crdFileName, crdYaml } from "../api/crd.ts";
import { kinds } from "../api/kinds.ts";
import { argocdConfigMap } from "../api/argocd.ts";

const root = resolve(import.meta.dirname, "..", "..");
const dirs = [join(root, "crds"), join(root, "charts", "omnivisor", "crds")];
const wanted = new Set(kinds.map(crdFileName));
for (const dir of dirs) {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(dir)) {
    if (file.endsWith(".yaml") && !wanted.has(file)) rmSync(join(dir, file));
  }
  for (const kind of kinds) {
    writeFileSync(join(dir, crdFileName(kind)), crdYaml(kind));
    console.log(relative(root, join(dir, crdFileName(kind))));
  }
}
const argocd = resolve(import.meta.dirname, "..", "..", "charts", "omnivisor", "files", "argocd");
writeFileSync(join(argocd, "argocd-cm.yaml"), argocdConfigMap(kinds, readFileSync(join(argocd, "health.lua"), "utf8")));
console.log("charts/omnivisor/files/argocd/argocd-cm.yaml");
