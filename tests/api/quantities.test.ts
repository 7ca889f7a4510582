// Scenario: large quantities a user means — a quota of 100000Gi of storage, 134217952Mi of memory,
// a 100000Gi disk — are whole numbers of bytes and are accepted by the API server (its CEL
// isInteger() alone refuses them: resource.Quantity keeps large binary amounts as decimals), in spec
// and in status; fractions of a byte are still refused, naming the field.
import { describe, expect, inject, it } from "vitest";
import { create, tlsClient, type Manifest } from "./api-server.ts";

const tls = (): ReturnType<typeof tlsClient> => tlsClient(inject("kubeconfig"));
const quota = (name: string, hard: Record<string, string>): Manifest => ({ apiVersion: "omnivisor.io/v1alpha1", kind: "VDCQuota", metadata: { name, namespace: "default" }, spec: { hard } });
const vm = (name: string, memory: string, disk: string): Manifest => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name, namespace: "default" },
  spec: { cpus: 1, memory, disks: [{ name: "root", size: disk }] },
});

describe("quantities of bytes", () => {
  it.each([
    ["134217952Mi", "100000Gi"],
    ["1Ei", "8Ei"],
    ["140737723416576", "999999999999999k"],
    ["1.5Gi", "2.5Ti"],
  ])("given memory %s and storage %s, then a VDCQuota and a VirtualMachine with them are accepted", async (memory, storage) => {
    const q = await create(tls(), quota("api-quantities-big", { memory, storage }), { dryRun: true });
    expect(q.status, q.message).toBe(201);
    const v = await create(tls(), vm("api-quantities-big", memory, storage), { dryRun: true });
    expect(v.status, v.message).toBe(201);
  });

  it.each(["0.5", "100m", "1.0000001Ki"])("given memory %s, a fraction of a byte, then it is refused naming spec.hard.memory", async (memory) => {
    const q = await create(tls(), quota("api-quantities-fraction", { memory }), { dryRun: true });
    expect(q.status).toBe(422);
    expect(q.message).toContain("spec.hard.memory");
    expect(q.message).toContain("whole number of bytes");
  });
});
