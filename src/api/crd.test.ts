// The CRDs in crds/ and charts/omnivisor/crds/ are generated: this fails when someone changes the
// schema and forgets `make crds`, or edits either by hand.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { crd, crdFileName, crdYaml } from "./crd.ts";
import { kinds } from "./kinds.ts";
import type { Schema } from "./structural.ts";

const root = resolve(import.meta.dirname, "..", "..");

/** Every property path under a schema, with the schema at that path. */
function fields(schema: Schema, path: string): [string, Schema][] {
  const out: [string, Schema][] = [];
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, child] of Object.entries(props)) {
    out.push([`${path}.${name}`, child], ...fields(child, `${path}.${name}`));
  }
  if (schema.items) out.push(...fields(schema.items as Schema, `${path}[]`));
  if (typeof schema.additionalProperties === "object") out.push(...fields(schema.additionalProperties as Schema, `${path}{}`));
  return out;
}

function rootSchema(kind: (typeof kinds)[number]): Schema {
  const version = (crd(kind).spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!;
  return version.schema.openAPIV3Schema;
}

describe("generated CRDs", () => {
  it.each(["crds", "charts/omnivisor/crds"])("given the zod schema, when the CRDs are rendered, then %s/ holds exactly those files (run `make crds`)", (dir) => {
    const onDisk = readdirSync(join(root, dir)).filter((f) => f.endsWith(".yaml")).sort();
    expect(onDisk).toEqual(kinds.map(crdFileName).sort());
    for (const kind of kinds) {
      expect(readFileSync(join(root, dir, crdFileName(kind)), "utf8"), `${dir}/${crdFileName(kind)} is stale: run make crds`).toBe(crdYaml(kind));
    }
  });

  it.each(kinds.map((k) => [k.kind, k] as const))("%s: every field has a description, no $ref, only int-or-string unions", (_name, kind) => {
    // metadata is Kubernetes' own (documented by the server; only name may be restricted, without a description)
    const all = fields(rootSchema(kind), kind.kind).filter(([path]) => path !== `${kind.kind}.metadata` && !path.startsWith(`${kind.kind}.metadata.`));
    expect(all.length).toBeGreaterThan(5);
    for (const [path, schema] of all) {
      expect(schema.description, path).toEqual(expect.any(String));
      expect(schema.$ref, path).toBeUndefined();
      if (schema.anyOf) expect(schema["x-kubernetes-int-or-string"], path).toBe(true);
      expect(schema.additionalProperties, path).not.toBe(false);
    }
  });

  it.each(kinds.map((k) => [k.kind, k] as const))("%s: status subresource, Ready/Synced-ready conditions keyed by type, category omnivisor", (_name, kind) => {
    const rendered = crd(kind) as { spec: { names: { categories: string[]; shortNames: string[] }; versions: { subresources: unknown }[] } };
    expect(rendered.spec.versions[0]!.subresources).toEqual({ status: {} });
    expect(rendered.spec.names.categories).toEqual(["omnivisor"]);
    for (const kubevirt of ["vm", "vmi", "vmis", "vms"]) expect(rendered.spec.names.shortNames).not.toContain(kubevirt);
    const conditions = (rootSchema(kind).properties as Record<string, Schema>).status!.properties as Record<string, Schema>;
    expect(conditions.conditions).toMatchObject({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });
    expect(conditions.observedGeneration).toMatchObject({ type: "integer" });
  });

  it.each(kinds.map((k) => [k.kind, k] as const))(
    "given %s, when rendered, then no default sits inside a list item (kubectl's merge patch replaces lists whole: it would say `configured` on every apply) and each is documented instead",
    (_name, kind) => {
      const inLists = fields(rootSchema(kind), kind.kind).filter(([path]) => path.includes("[]"));
      expect(inLists.filter(([, s]) => "default" in s).map(([path]) => path)).toEqual([]);
      for (const [path, s] of inLists) {
        if (path === "VirtualMachine.spec.disks[].bus" || path === "VApp.spec.members[].spec.powerState") {
          expect(String(s.description), path).toMatch(/default/i);
        }
      }
    },
  );
});
