import { describe, expect, it } from "vitest";
import { RequestContext } from "@kubernetes/client-node";
import { PooledKubeConfig } from "./kubeconfig.ts";

const config = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${Buffer.from("not a real CA").toString("base64")}}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`;

describe("pooled kubeconfig", () => {
  it("hands every request of one context the same connection pool (client-node builds a new one per request)", async () => {
    const kc = new PooledKubeConfig();
    kc.loadFromString(config);
    const dispatchers = [];
    for (let i = 0; i < 3; i++) {
      const ctx = new RequestContext("https://127.0.0.1:6443/api", "GET");
      await kc.applySecurityAuthentication(ctx);
      dispatchers.push(ctx.getDispatcher());
    }
    expect(dispatchers[0]).toBeDefined();
    expect(new Set(dispatchers).size).toBe(1);
    await kc.close();
  });
});
