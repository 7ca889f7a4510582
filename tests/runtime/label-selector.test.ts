// Scenario: a manager scoped to some Hosts (--host-selector) sees only those — in its first list as
// well as in its watch. (Its first list used to return every Host: a scoped manager reconciled,
// and connected to, Hosts that existed before it started whatever their labels.)
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { hostsType, type HostObject } from "../../src/fleet/kinds.ts";
import { waitFor } from "../../src/local/wait.ts";
import { loadKubeConfig } from "../../src/runtime/kubeconfig.ts";
import { createLogger } from "../../src/runtime/log.ts";
import { SharedInformers } from "../../src/runtime/shared-informers.ts";
import { apply, kubectl } from "../lifecycle/fixtures.ts";

const admin = inject("kubeconfig");
const run = randomBytes(3).toString("hex");
const names = [`sel-${run}-mine`, `sel-${run}-theirs`, `sel-${run}-later`];
const host = (name: string, scope?: string) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name, labels: { "omnivisor.io/scenario": scope ?? `other-${run}` } },
  spec: { datacenter: `sel-${run}`, driver: "docker", endpoint: "unix:///nonexistent.sock" },
});

afterAll(async () => {
  await kubectl(admin, ["delete", "hosts.omnivisor.io", ...names, "--ignore-not-found", "--wait=false"]);
});

describe("a label-scoped cache", () => {
  it("given Hosts made before it starts and after, then it holds only those its selector matches", async () => {
    await apply(admin, host(names[0]!, `sel-${run}`), host(names[1]!));
    const caches = new SharedInformers(loadKubeConfig(admin), createLogger({ level: "error", write: () => undefined }), { hosts: `omnivisor.io/scenario=sel-${run}` });
    const informer = caches.informer<HostObject>(hostsType);
    informer.start();
    try {
      await informer.waitForSync();
      const ofRun = (): string[] => informer.list().map((h) => h.metadata.name).filter((n) => n.startsWith(`sel-${run}-`)).sort();
      expect(ofRun()).toEqual([names[0]]);
      await apply(admin, host(names[2]!, `sel-${run}`));
      await waitFor("the later Host in the cache", () => (ofRun().length === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
      expect(ofRun()).toEqual([names[0], names[2]].sort());
    } finally {
      await informer.shutdown();
    }
  });
});
