// Scenario: a user runs the embedded default (what `make run` starts), points kubectl at the
// printed kubeconfig, lists namespaces, and stops it with Ctrl-C: nothing is left running.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";
import { waitFor } from "../../src/local/wait.ts";

const run = promisify(execFile);

it("make run's entry point serves a control plane that kubectl can use, and stops cleanly on Ctrl-C", async () => {
  const dir = mkdtempSync(join(tmpdir(), "omnivisor-make-run-"));
  const child = spawn(process.execPath, [join(repoRoot, "src", "cmd", "local.ts"), "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const kubeconfig = await waitFor("the READY line with the kubeconfig path", () => /READY kubeconfig=(\S+)/.exec(out)?.[1], {
      timeoutMs: 90_000,
      onTimeout: () => out,
    });
    expect(kubeconfig).toBe(join(dir, "admin.kubeconfig"));
    const { stdout } = await run(toolchain().kubectl, ["--kubeconfig", kubeconfig, "get", "ns", "-o", "name"]);
    expect(stdout.split("\n")).toContain("namespace/kube-system");
  } finally {
    child.kill("SIGINT");
  }
  expect(await exited).toBe(0);
  expect(out).toContain("stopped.");
  let left = "";
  try {
    left = execFileSync("pgrep", ["-af", dir], { encoding: "utf8" });
  } catch {
    /* none */
  }
  expect(left).toBe("");
  rmSync(dir, { recursive: true, force: true });
});
