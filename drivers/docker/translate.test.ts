// Unit tests for the Docker driver's pure translations: errors, VM spec → container, container →
// observation, docker events → VM events, endpoint → dockerode options.
import type Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { errorKind } from "../contract/index.ts";
import { createOptions } from "./container-spec.ts";
import { dockerodeOptions } from "./driver.ts";
import { translateDockerError } from "./errors.ts";
import { DockerEventTranslator } from "./events.ts";
import { observation, powerOf } from "./observe.ts";

function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message}`), { statusCode, json: { message } });
}

describe("translateDockerError", () => {
  const cases: Record<string, { err: unknown; kind: string; reason?: string }> = {
    "no such container is not-found": { err: httpError(404, "No such container: x"), kind: "not-found", reason: "not-found" },
    "no such image is not-found (image-missing)": { err: httpError(404, "No such image: nope:x"), kind: "not-found", reason: "image-missing" },
    "pausing a stopped container is an invalid transition": { err: httpError(409, "Container abc is not running"), kind: "invalid-transition" },
    "a name in use is terminal (name-taken)": { err: httpError(409, 'Conflict. The container name "/x" is already in use by container "abc"'), kind: "terminal", reason: "name-taken" },
    "more CPUs than the host has is capacity": { err: httpError(400, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"), kind: "capacity" },
    "a bad request is terminal": { err: httpError(400, "invalid reference format"), kind: "terminal" },
    "a daemon error is retryable": { err: httpError(500, "something broke"), kind: "retryable" },
    "connection refused is retryable": { err: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), kind: "retryable", reason: "connection" },
    "a missing socket is retryable": { err: Object.assign(new Error("connect ENOENT /x.sock"), { code: "ENOENT" }), kind: "retryable", reason: "connection" },
    "a refused client certificate is terminal (tls)": { err: Object.assign(new Error("alert bad certificate"), { code: "ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE" }), kind: "terminal", reason: "tls" },
    "an unverifiable server certificate is terminal (tls)": { err: Object.assign(new Error("unable to verify"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }), kind: "terminal", reason: "tls" },
    "a hung-up socket is retryable": { err: new Error("socket hang up"), kind: "retryable", reason: "connection" },
  };
  for (const [reason, c] of Object.entries(cases)) {
    it(reason, () => {
      const e = translateDockerError(c.err, "test");
      expect(errorKind(e)).toBe(c.kind);
      if (c.reason !== undefined) expect(e.reason).toBe(c.reason);
      expect(e.cause).toBe(c.err);
    });
  }
});

describe("createOptions", () => {
  const identity = { uid: "u-1", name: "ns.vm", namespace: "ns", kubeName: "vm" };
  const spec = { cpus: 1.5, memoryMiB: 256, disks: [{ name: "root", image: "busybox:local" }] };

  it("makes a VM-like container: limits, identity labels, init, no restart, default network", () => {
    const o = createOptions(identity, spec, "bridge");
    expect(o).toMatchObject({ name: "ns.vm", Image: "busybox:local", Labels: { "io.omnivisor.uid": "u-1", "io.omnivisor.namespace": "ns", "io.omnivisor.name": "vm" } });
    expect(o.HostConfig).toMatchObject({ Init: true, RestartPolicy: { Name: "no" }, NetworkMode: "bridge", NanoCpus: 1_500_000_000, Memory: 256 * 1024 * 1024 });
  });

  it("no networks means none; a named network is used; a console is a TTY", () => {
    expect(createOptions(identity, { ...spec, networks: [] }, "bridge").HostConfig?.NetworkMode).toBe("none");
    expect(createOptions(identity, { ...spec, networks: [{ name: "n", network: "backend" }] }, "bridge").HostConfig?.NetworkMode).toBe("backend");
    expect(createOptions(identity, { ...spec, console: true }, "bridge")).toMatchObject({ Tty: true, OpenStdin: true });
  });

  it("a spec without an image or with no CPUs is terminal", () => {
    expect(() => createOptions(identity, { ...spec, disks: [{ name: "blank", sizeGiB: 1 }] }, "bridge")).toThrow(expect.objectContaining({ kind: "terminal", reason: "image-missing" }));
    expect(() => createOptions(identity, { ...spec, cpus: 0 }, "bridge")).toThrow(expect.objectContaining({ kind: "terminal" }));
  });
});

describe("observation", () => {
  const info = (labels: Record<string, string>, state: object, nano = 500_000_000): Dockerode.ContainerInspectInfo =>
    ({
      Id: "abc",
      Name: "/ns.vm",
      Config: { Labels: labels },
      State: state,
      HostConfig: { NanoCpus: nano, Memory: 64 * 1024 * 1024 },
      NetworkSettings: { Networks: { bridge: { IPAddress: "172.17.0.2", GlobalIPv6Address: "" } } },
    }) as unknown as Dockerode.ContainerInspectInfo;

  it("a labelled container is a managed VM with its identity", () => {
    const o = observation(info({ "io.omnivisor.uid": "u-1" }, { Status: "running" }), 2, 4096);
    expect(o).toMatchObject({ externalId: "abc", name: "ns.vm", managed: true, power: "Running", cpus: 0.5, memoryMiB: 64, addresses: ["172.17.0.2"] });
    expect(o.identity?.uid).toBe("u-1");
  });

  it("an unlabelled, unlimited container is unmanaged and may use the whole host", () => {
    const o = observation(info({}, { Status: "exited" }, 0), 2, 4096);
    expect(o).toMatchObject({ managed: false, power: "Stopped", cpus: 2 });
    expect(o.identity).toBeUndefined();
  });

  it("maps docker states to power", () => {
    expect(powerOf({ Status: "paused" })).toBe("Paused");
    expect(powerOf({ Status: "created" })).toBe("Stopped");
    expect(powerOf({ Status: "exited", OOMKilled: true })).toBe("Crashed");
    expect(powerOf({ Status: "dead" })).toBe("Crashed");
    expect(powerOf(undefined)).toBe("Unknown");
  });
});

describe("DockerEventTranslator", () => {
  const ev = (Action: string, attrs: Record<string, string> = {}) => ({ Type: "container", Action, Actor: { ID: "abc", Attributes: { name: "ns.vm", "io.omnivisor.uid": "u-1", ...attrs } }, timeNano: 1_700_000_000_000_000_000 });

  it("maps lifecycle actions and carries identity from the labels", () => {
    const t = new DockerEventTranslator();
    const types = ["create", "start", "pause", "unpause", "destroy"].map((a) => t.translate(ev(a))?.type);
    expect(types).toEqual(["defined", "started", "paused", "resumed", "deleted"]);
    expect(t.translate(ev("start"))?.identity?.uid).toBe("u-1");
  });

  it("tells a requested stop from a crash", () => {
    const t = new DockerEventTranslator();
    expect(t.translate(ev("kill", { signal: "15" }))).toBeUndefined();
    expect(t.translate(ev("die", { exitCode: "143" }))?.type).toBe("stopped");
    expect(t.translate(ev("die", { exitCode: "0" }))?.type).toBe("stopped");
    expect(t.translate(ev("die", { exitCode: "1" }))?.type).toBe("crashed");
    t.translate(ev("oom"));
    expect(t.translate(ev("die", { exitCode: "137" }))).toMatchObject({ type: "crashed", detail: "exit code 137 (out of memory)" });
  });

  it("ignores other object types and actions", () => {
    const t = new DockerEventTranslator();
    expect(t.translate({ Type: "network", Action: "connect" })).toBeUndefined();
    expect(t.translate(ev("exec_start: sh"))).toBeUndefined();
  });
});

describe("dockerodeOptions", () => {
  it("reads unix, tcp and https endpoints", () => {
    expect(dockerodeOptions({ endpoint: "unix:///var/run/docker.sock" }, undefined)).toEqual({ socketPath: "/var/run/docker.sock" });
    expect(dockerodeOptions({ endpoint: "tcp://10.0.0.3:2375" }, undefined)).toMatchObject({ host: "10.0.0.3", port: 2375, protocol: "http" });
    expect(dockerodeOptions({ endpoint: "tcp://10.0.0.3", tls: { caPem: "CA" } }, { certPem: "C", keyPem: "K" })).toMatchObject({ port: 2376, protocol: "https", ca: "CA", cert: "C", key: "K" });
  });

  it("rejects what is not a docker endpoint as terminal", () => {
    expect(() => dockerodeOptions({ endpoint: "qemu:///system" }, undefined)).toThrow(expect.objectContaining({ kind: "terminal" }));
  });
});
