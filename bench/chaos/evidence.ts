// What other tests already prove, summarised in the chaos report: the invalid-manifest corpus
// (its files counted here), and three test runs made by this script — the libvirt RPC decoder's
// 10,000-packet fuzz, the fuzzed XAPI / WinRM / vim25 replies (the figures the test prints), and
// the RBAC check of both identities (kubectl auth can-i --list, no wildcard).
import { execFile } from "node:child_process";
import { readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../src/local/toolchain.ts";

const run = promisify(execFile);

export interface TestRun {
  what: string;
  command: string;
  passed: number;
  failed: number;
  /** Tests of the file a filter (-t) left out. */
  notSelected: number;
  /** Lines the tests printed with their figures. */
  figures: string[];
}

export interface Evidence {
  invalidManifests: { files: number; kinds: number };
  runs: TestRun[];
}

async function vitest(what: string, project: string, file: string, filter: string | undefined, figure: RegExp): Promise<TestRun> {
  const json = join(tmpdir(), `omnivisor-chaos-vitest-${process.pid}.json`);
  const args = ["run", "--project", project, file, ...(filter ? ["-t", filter] : []), "--reporter=default", "--reporter=json", `--outputFile.json=${json}`];
  const out = await run("vitest", args, { cwd: repoRoot, timeout: 600_000, maxBuffer: 64 * 2 ** 20 }).then(
    (r) => r.stdout + r.stderr,
    (e: { stdout?: string; stderr?: string }) => (e.stdout ?? "") + (e.stderr ?? ""),
  );
  const report = JSON.parse(await readFile(json, "utf8").catch(() => "{}")) as { numPassedTests?: number; numFailedTests?: number; numPendingTests?: number; numTodoTests?: number };
  await rm(json, { force: true });
  return {
    what,
    command: `vitest ${args.slice(0, filter ? 6 : 4).join(" ")}`,
    passed: report.numPassedTests ?? 0,
    failed: report.numFailedTests ?? 0,
    notSelected: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    figures: [...new Set(out.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter((l) => figure.test(l)))],
  };
}

export async function evidence(step: (s: string) => void): Promise<Evidence> {
  const files = (await readdir(join(repoRoot, "tests", "api", "invalid"))).filter((f) => f.endsWith(".yaml"));
  const kinds = new Set<string>();
  for (const f of files) {
    const m = /^\s*kind:\s*(\S+)/m.exec(await readFile(join(repoRoot, "tests", "api", "invalid", f), "utf8"));
    if (m) kinds.add(m[1]!);
  }
  const runs: TestRun[] = [];
  runs.push(await vitest("libvirt RPC decoder fuzz (10,000 random and mutated packets)", "unit", "drivers/libvirt/rpc/client.test.ts", "10,000", /packets|answered|dropped/));
  step(`evidence: ${runs.at(-1)!.what}: ${runs.at(-1)!.passed} passed, ${runs.at(-1)!.failed} failed`);
  runs.push(await vitest("malformed XAPI / WinRM / vim25 replies (mutating proxy)", "integration", "tests/fuzz/driver-replies.test.ts", undefined, /rounds — .* ok, .* typed errors/));
  step(`evidence: ${runs.at(-1)!.what}: ${runs.at(-1)!.passed} passed, ${runs.at(-1)!.failed} failed`);
  runs.push(await vitest("R7: wrong credentials on every driver and passwords in endpoints — no secret in any log line, Event or object", "integration", "tests/security/secret-sweep.test.ts", undefined, /secret/));
  runs.push(await vitest("RBAC: separate least-privilege identities, no wildcard (kubectl auth can-i --list)", "integration", "tests/foundation/control-plane.test.ts", "RBAC", /can-i|wildcard/));
  step(`evidence: ${runs.at(-1)!.what}: ${runs.at(-1)!.passed} passed, ${runs.at(-1)!.failed} failed`);
  return { invalidManifests: { files: files.length, kinds: kinds.size }, runs };
}
