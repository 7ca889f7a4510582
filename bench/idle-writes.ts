// Writes an idle fleet makes: samples the API server's apiserver_request_total (its own
// counters) over a window against a running control plane — `make run`'s, by its kubeconfig — and
// prints the writes per minute by group, resource and verb. A benchmark reports; it never fails.
// Usage: node bench/idle-writes.ts --kubeconfig FILE [--seconds 300] [--json FILE]
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { parseArgs, promisify } from "node:util";
import { requestCounts, writesBetween, writesTo } from "../src/local/api-requests.ts";
import { toolchain } from "../src/local/toolchain.ts";

const run = promisify(execFile);
const { values } = parseArgs({ options: { kubeconfig: { type: "string" }, seconds: { type: "string", default: "300" }, json: { type: "string" } } });
if (!values.kubeconfig) throw new Error("--kubeconfig FILE is required (make run prints it)");
const seconds = Number(values.seconds);
const metrics = async (): Promise<string> => (await run(toolchain().kubectl, ["--kubeconfig", values.kubeconfig!, "get", "--raw", "/metrics"], { maxBuffer: 64 * 1024 * 1024 })).stdout;

const before = requestCounts(await metrics());
const started = new Date();
await new Promise((r) => setTimeout(r, seconds * 1000));
const writes = writesBetween(before, requestCounts(await metrics()));
const perMinute = (n: number): number => Math.round((n / seconds) * 60 * 10) / 10;
const result = {
  started: started.toISOString(),
  seconds,
  omnivisorWritesPerMinute: perMinute(writesTo("omnivisor.io", writes)),
  eventWritesPerMinute: perMinute(writesTo("core", Object.fromEntries(Object.entries(writes).filter(([k]) => k.startsWith("core events"))))),
  writes,
};
console.log(`${seconds} s from ${result.started}: ${result.omnivisorWritesPerMinute} omnivisor.io writes per minute, ${result.eventWritesPerMinute} Event writes per minute`);
for (const [k, v] of Object.entries(writes).sort()) console.log(`  ${k}: ${v} (${perMinute(v)}/min)`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
