import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { HealthServer } from "./health-server.ts";

describe("health server", () => {
  let server: HealthServer | undefined;
  afterEach(async () => server?.close());

  it("is alive at once, ready only when the caches are synced, and serves metrics", async () => {
    let synced = false;
    server = new HealthServer({ registry: new Registry(), ready: () => synced });
    const port = await server.listen(0, "127.0.0.1");
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    expect(await get("/healthz")).toBe(200);
    expect(await get("/readyz")).toBe(503);
    synced = true;
    expect(await get("/readyz")).toBe(200);
    expect(await get("/metrics")).toBe(200);
    expect(await get("/other")).toBe(404);
  });
});
