import { describe, expect, it } from "vitest";
import { createLogger } from "./log.ts";

describe("logger", () => {
  it("writes one JSON object per line with the object key and redacts credential-like fields", () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) }).with({ controller: "host", key: "default/esx-1" });
    log.info("connected", { endpoint: "https://esx", password: "hunter2", credentials: { token: "abc" }, nested: { apiToken: "x" } });
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ level: "info", msg: "connected", controller: "host", key: "default/esx-1", password: "[redacted]", credentials: "[redacted]" });
    expect(lines[0]).not.toContain("hunter2");
    expect(lines[0]).not.toContain('"x"');
  });

  it("redacts credentials quoted in message text and in string fields, not only credential-named fields", () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.warn("connect to qemu+tcp://root:hunter2@10.0.0.5/system failed", { error: new Error("GET https://x/rpc?token=s3cr3t: 401"), detail: ["Authorization: Basic cm9vdDpodW50ZXIy"] });
    expect(lines[0]).not.toMatch(/hunter2|s3cr3t|cm9vdDpodW50ZXIy/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "connect to qemu+tcp://[redacted]@10.0.0.5/system failed", error: { message: "GET https://x/rpc?token=[redacted] 401" } });
  });

  it("drops lines below the level", () => {
    const lines: string[] = [];
    createLogger({ level: "warn", write: (l) => lines.push(l) }).info("quiet");
    expect(lines).toHaveLength(0);
  });
});
