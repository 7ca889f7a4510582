// Scenario: a user applies a broken manifest. The real API server (CRD schema + CEL rules from
// src/api) refuses it, and the error names the offending field, so the fix is obvious.
// Each file in invalid/ says which field it breaks (`# rejects: <path>`); files with two documents
// create the first for real and then try to update it to the second (immutability rules).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { kinds } from "../../src/api/index.ts";
import { create, read, remove, replaceDryRun, tlsClient, type ApiAnswer, type Manifest } from "./api-server.ts";

const dir = join(import.meta.dirname, "invalid");

interface Case {
  file: string;
  field: string;
  because: string;
  docs: Manifest[];
}

function loadCorpus(): Case[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), "utf8");
      const field = /^# rejects: (\S+)$/m.exec(text)?.[1];
      const because = /^# because: (.+)$/m.exec(text)?.[1];
      if (!field || !because) throw new Error(`${file}: needs "# rejects: <field path>" and "# because: <reason>"`);
      return { file, field, because, docs: parseAllDocuments(text).map((d) => d.toJS() as Manifest) };
    });
}

async function attempt(c: Case): Promise<ApiAnswer> {
  const tls = tlsClient(inject("kubeconfig"));
  if (c.docs.length === 1) return create(tls, c.docs[0]!, { dryRun: true });
  const [before, after] = c.docs as [Manifest, Manifest];
  const created = await create(tls, before, { dryRun: false });
  expect(created.status, `${c.file}: the first document must be valid: ${created.message}`).toBe(201);
  try {
    // An operator running beside this suite (the lifecycle scenarios reconcile every HostPool) may
    // write the object's status in between: a 409 is a stale resourceVersion, not the answer.
    let resourceVersion = created.object!.metadata.resourceVersion!;
    for (let attempt = 1; ; attempt++) {
      const answer = await replaceDryRun(tls, { ...after, metadata: { ...after.metadata, resourceVersion } });
      if (answer.status !== 409 || attempt === 5) return answer;
      resourceVersion = (await read(tls, before)).object!.metadata.resourceVersion!;
    }
  } finally {
    await remove(tls, before);
  }
}

/** The field paths the API server blamed: each cause's field, and the paths in an unknown-field message. */
function blamed(answer: ApiAnswer): string[] {
  const unknown = [...answer.message.matchAll(/unknown field "([^"]+)"/g)].map((m) => m[1]!);
  return [...answer.causes.map((c) => c.field ?? ""), ...unknown];
}

const corpus = loadCorpus();

describe("invalid manifests are rejected by the API server, naming the field", () => {
  it("given the corpus, then it covers every kind with at least 60 manifests", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    const covered = new Set(corpus.flatMap((c) => c.docs.map((d) => d.kind)));
    expect([...covered].sort()).toEqual(kinds.map((k) => k.kind).sort());
  });

  // Concurrent within the file (vitest's maxConcurrency bounds it): one HTTPS call per case.
  it.concurrent.each(corpus.map((c) => [c.file, c] as const))("%s", async (_file, c) => {
    const answer = await attempt(c);
    expect(answer.status, `${c.file} was accepted; expected a rejection of ${c.field} (${c.because})`).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(blamed(answer), `${c.file}: ${answer.message}`).toContain(c.field);
  });
});
