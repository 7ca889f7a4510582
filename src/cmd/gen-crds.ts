// `make crds`: writes <plural>.omnivisor.io.yaml for every kind from the zod schema into crds/
// and into the Helm chart's crds/ (charts/omnivisor/crds, the same bytes), and removes generated
// files of kinds that no longer exist (crds/README.md stays).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { crdFileName, crdYaml } from "../api/crd.ts";
import { kinds } from "../api/kinds.ts";

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
