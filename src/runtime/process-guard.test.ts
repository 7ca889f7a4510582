// The guard in a child process of its own (what it reacts to would end this test process).
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const guard = join(import.meta.dirname, "process-guard.ts");
const log = join(import.meta.dirname, "log.ts");
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function script(body: string): Promise<{ code: number; lines: { level: string; msg: string; error?: string; stack?: string }[] }> {
  dir ??= await mkdtemp(join(tmpdir(), "omni-guard-"));
  const file = join(dir, `s${Math.random().toString(36).slice(2)}.ts`);
  await writeFile(file, `import { guardProcess } from ${JSON.stringify(guard)};\nimport { createLogger } from ${JSON.stringify(log)};\nguardProcess(createLogger());\n${body}\n`);
  const outcome = await run(process.execPath, [file]).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  return { code: outcome.code, lines: outcome.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string }) };
}

describe("errors nobody caught", () => {
  it("given a promise rejected and never awaited, then it is logged as an error with its stack, and the process goes on", async () => {
    const { code, lines } = await script(`void Promise.reject(new Error("lost in the background"));\nsetTimeout(() => console.log(JSON.stringify({ level: "info", msg: "still here" })), 50);`);
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ level: "error", msg: "unhandled promise rejection (a bug; the process goes on)", error: "lost in the background" });
    expect(lines[0]?.stack).toContain("Error: lost in the background");
    expect(lines[1]).toMatchObject({ msg: "still here" });
  });

  it("given an exception thrown in a callback, then it is logged and the process exits with code 70 for its supervisor", async () => {
    const { code, lines } = await script(`setTimeout(() => { throw new Error("state is broken"); }, 10);\nsetTimeout(() => console.log(JSON.stringify({ level: "info", msg: "should not run" })), 500);`);
    expect(code).toBe(70);
    expect(lines).toEqual([expect.objectContaining({ level: "error", msg: "uncaught exception; exiting for the supervisor to restart the process", error: "state is broken" })]);
  });
});
