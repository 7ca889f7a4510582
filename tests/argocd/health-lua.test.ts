// Argo CD health checks (charts/omnivisor/files/argocd/health.lua) run by a real Lua 5.1
// interpreter (Argo CD runs gopher-lua, Lua 5.1) against objects captured from real runs
// (tests/argocd/fixtures, written by tests/fleet/health-states.test.ts with
// OMNIVISOR_CAPTURE_HEALTH=1): each fixture's file name says the health Argo CD must show.
// Every kind x every health state is covered, except the pairs listed below with the reason.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { argocdConfigMap } from "../../src/api/argocd.ts";
import { kinds as allKinds } from "../../src/api/kinds.ts";
import { repoRoot } from "../../src/local/toolchain.ts";
import { toLua } from "./lua-literal.ts";

const run = promisify(execFile);
const fixtures = join(repoRoot, "tests", "argocd", "fixtures");
const script = join(repoRoot, "charts", "omnivisor", "files", "argocd", "health.lua");
const states = ["Healthy", "Progressing", "Degraded", "Suspended"] as const;
const kinds = ["Datacenter", "HostPool", "Host", "VirtualMachine", "VApp", "VDCQuota", "HAPolicy", "VMMigration", "DRSPolicy"] as const;

/** Kind x state pairs no fixture shows, and why. */
const notCaptured: Record<string, string> = {
  "Datacenter.Suspended": "a datacenter cannot be paused or stopped",
  "HostPool.Suspended": "a pool cannot be paused or stopped",
  "VDCQuota.Suspended": "a quota cannot be paused",
  "VMMigration.Suspended": "a move cannot be paused; a cancelled one is over (Degraded)",
  "HAPolicy.Suspended": "a policy cannot be paused",
};

async function health(obj: unknown): Promise<{ status: string; message: string }> {
  const program = `obj = ${toLua(obj)}\nlocal hs = dofile(${toLua(script)})\nio.write(hs.status, "\\t", hs.message)\n`;
  const child = run("lua5.1", ["-"]);
  child.child.stdin!.end(program);
  const { stdout } = await child;
  const [status = "", message = ""] = stdout.split("\t");
  return { status, message };
}

const files = readdirSync(fixtures).filter((f) => f.endsWith(".json"));

describe("Argo CD health in Lua, on captured statuses", () => {
  for (const file of files) {
    const [kind, want] = file.split(".");
    it(`${kind}: ${file.split(".")[2]} is ${want}`, async () => {
      const got = await health(JSON.parse(readFileSync(join(fixtures, file), "utf8")));
      expect(got.status).toBe(want);
      expect(got.message.length, "every state says why").toBeGreaterThan(0);
    });
  }

  it("every kind x every health state has a captured fixture, or a reason it has none", () => {
    const have = new Set(files.map((f) => f.split(".").slice(0, 2).join(".")));
    const missing = kinds.flatMap((k) => states.map((s) => `${k}.${s}`)).filter((pair) => !have.has(pair) && !(pair in notCaptured));
    expect(missing).toEqual([]);
    for (const pair of Object.keys(notCaptured)) expect(have.has(pair), `${pair} is captured now: drop it from notCaptured`).toBe(false);
  });

  it("a VM that fits on no host, or keeps crashing, is Degraded with the reason (not Progressing forever)", async () => {
    const read = (name: string): unknown => JSON.parse(readFileSync(join(fixtures, files.find((f) => f.endsWith(`.${name}.json`))!), "utf8"));
    expect(await health(read("vm-fits-no-host"))).toMatchObject({ status: "Degraded", message: expect.stringMatching(/^NoHostFits: /) as unknown });
    expect(await health(read("vm-crash-looping"))).toMatchObject({ status: "Degraded", message: expect.stringMatching(/^CrashLoopBackOff: /) as unknown });
  });

  it("an object its controller has not seen yet (no status, or an older generation) is Progressing", async () => {
    expect(await health({ apiVersion: "omnivisor.io/v1alpha1", kind: "DRSPolicy", metadata: { name: "d", generation: 1 }, spec: {} })).toEqual({ status: "Progressing", message: "waiting for the Omnivisor controller" });
    const running = JSON.parse(readFileSync(join(fixtures, "VirtualMachine.Healthy.vm-running.json"), "utf8")) as { metadata: { generation: number } };
    running.metadata.generation += 1;
    expect((await health(running)).status).toBe("Progressing");
  });

  it("the argocd-cm snippet carries this health check for every kind, as `make crds` writes it", () => {
    const file = readFileSync(join(repoRoot, "charts", "omnivisor", "files", "argocd", "argocd-cm.yaml"), "utf8");
    const lua = readFileSync(script, "utf8");
    expect(file, "run `make crds`").toBe(argocdConfigMap(allKinds, lua));
    const data = (parse(file) as { data: Record<string, string> }).data;
    expect(Object.keys(data).sort()).toEqual(allKinds.map((k) => `resource.customizations.health.omnivisor.io_${k.kind}`).sort());
    for (const body of Object.values(data)) expect(body).toBe(lua);
  });
});
