// Scenario (issue #19, R7): secrets stay secret on every driver. Each Host gets credentials that
// fail — a wrong password (ESXi in a private vcsim that checks passwords, XenServer and Hyper-V
// FAKES), a client key the TLS drivers cannot use (libvirt, Docker) — and a VM placed on it; a
// Host whose endpoint carries user:password@ is refused by the API server. Once every Host says
// why it cannot connect, every log line of the operator, every Event, and every omnivisor object
// (spec, status, conditions) is swept for each secret: none may show anywhere.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlPlane } from "../../src/local/control-plane.ts";
import { waitFor } from "../../src/local/wait.ts";
import { PrivateVcsim } from "../drivers/esxi-vcsim.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { apply, condition, getObject, kubectl, startOperator, type Operator } from "../lifecycle/fixtures.ts";

const run = randomBytes(3).toString("hex");
const ns = `ss-${run}`;
const dc = `ss-${run}-dc`;
const marker = (what: string): string => `${what}-${randomBytes(8).toString("hex")}`;
const drivers = ["libvirt", "docker", "esxi", "xenserver", "hyperv"] as const;
type Driver = (typeof drivers)[number];

/** What each Host's Secret holds that must never show: a wrong password, or a client key. */
const secrets: Record<Driver, Record<string, string>> = {
  libvirt: { "tls.crt": pem("CERTIFICATE", marker("libvirt-cert")), "tls.key": pem("PRIVATE KEY", marker("libvirt-key")) },
  docker: { "tls.crt": pem("CERTIFICATE", marker("docker-cert")), "tls.key": pem("PRIVATE KEY", marker("docker-key")) },
  esxi: { username: "omnivisor", password: marker("esxi-password") },
  xenserver: { username: "root", password: marker("xen-password") },
  hyperv: { username: "Administrator", password: marker("winrm-password") },
};
/** The passwords the hosts really take: never given to the operator, so they show nowhere either. */
const real = { esxi: marker("esxi-real"), xenserver: marker("xen-real"), hyperv: marker("winrm-real") };
/** Passwords in endpoints (user:password@): refused by the API server before anyone stores them. */
const inEndpoints: Record<Driver, string> = Object.fromEntries(drivers.map((d) => [d, marker(`${d}-endpoint-password`)])) as Record<Driver, string>;

function pem(label: string, body: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(body).toString("base64")}\n-----END ${label}-----\n`;
}

let cp: ControlPlane;
let admin = "";
let vcsim: PrivateVcsim;
let xapi: FakeXapiServer;
let winrm: FakeWinrmServer;
let operator: Operator | undefined;
const endpoints = {} as Record<Driver, string>;
const tlsOf: Partial<Record<Driver, object>> = {};

const hostName = (d: Driver): string => `ss-${run}-${d}`;
const host = (d: Driver, endpoint = endpoints[d]) => ({
  apiVersion: "omnivisor.io/v1alpha1",
  kind: "Host",
  metadata: { name: hostName(d) },
  spec: { datacenter: dc, driver: d, endpoint, credentialsSecretRef: { name: d, namespace: ns }, ...(tlsOf[d] ? { tls: tlsOf[d] } : {}) },
});

beforeAll(async () => {
  cp = await ControlPlane.start({ controllerManager: false });
  admin = cp.kubeconfigs.admin;
  vcsim = await PrivateVcsim.start(["-username", "omnivisor", "-password", real.esxi]);
  xapi = await FakeXapiServer.start({ username: "root", password: real.xenserver });
  winrm = await FakeWinrmServer.start({ username: "Administrator", password: real.hyperv });
  // libvirt and Docker over TLS to a port nothing listens on: the client key is read and handed
  // to the TLS stack, which cannot use it
  Object.assign(endpoints, { libvirt: "qemu+tls://127.0.0.1:1/system", docker: "tcp://127.0.0.1:1", esxi: vcsim.url, xenserver: xapi.url, hyperv: winrm.url });
  Object.assign(tlsOf, { esxi: { insecureSkipVerify: true }, hyperv: { caBundle: winrm.caPem } });
  await kubectl(admin, ["create", "namespace", ns]);
  await apply(
    admin,
    ...drivers.map((d) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: d, namespace: ns }, data: Object.fromEntries(Object.entries(secrets[d]).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) })),
    { apiVersion: "omnivisor.io/v1alpha1", kind: "Datacenter", metadata: { name: dc }, spec: { imageStore: { location: "/var/lib/omnivisor/images" } } },
    ...drivers.map((d) => host(d)),
    ...drivers.map((d) => ({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VirtualMachine",
      metadata: { name: `on-${d}`, namespace: ns },
      spec: { cpus: 1, memory: "64Mi", disks: [{ name: "root", size: "1Gi" }], placement: { hosts: [hostName(d)], driver: d } },
    })),
  );
  operator = startOperator(cp.kubeconfigs.operator, ns, ["--credentials-namespaces", ns]);
});

afterAll(async () => {
  await kubectl(admin, ["delete", "virtualmachines.omnivisor.io", "--all", "-n", ns, "--wait=true", "--timeout=60s"]).catch(() => undefined);
  await operator?.stop();
  await vcsim?.kill();
  await xapi?.stop();
  await winrm?.stop();
  await cp?.stop();
});

describe("secrets stay secret", () => {
  it("given a Host of each driver whose endpoint carries user:password@, then the API server refuses it naming spec.endpoint, and the password is not in the refusal", async () => {
    for (const d of drivers) {
      const u = new URL(endpoints[d].replace(/^qemu\+tls:/, "https:"));
      const withPassword = endpoints[d].replace(`//${u.host}`, `//admin:${inEndpoints[d]}@${u.host}`);
      const refused = await kubectl(admin, ["apply", "--dry-run=server", "-f", "-"], JSON.stringify({ ...host(d, withPassword), metadata: { name: `${hostName(d)}-pw` } })).then(
        () => "",
        (err: unknown) => String(err),
      );
      expect(refused, `${d}: a Host with a password in its endpoint is refused`).toMatch(/spec\.endpoint/);
      expect(refused).toMatch(/must not carry a password/);
      expect(refused).not.toContain(inEndpoints[d]);
    }
  });

  it("given credentials that fail on every driver, when each Host says why and its VM waits, then no secret shows in any log line, Event or object", async () => {
    for (const d of drivers) {
      const h = await waitFor(`${d} Host: Reachable=False with its reason`, async () => {
        const got = await getObject(admin, "hosts.omnivisor.io", hostName(d));
        return condition(got, "Reachable")?.status === "False" ? got : undefined;
      }, { timeoutMs: 90_000, intervalMs: 500 });
      const reachable = condition(h, "Reachable")!;
      expect(reachable.message, `${d}: the condition says why`).toBeTruthy();
      if (d === "esxi" || d === "xenserver" || d === "hyperv") expect(reachable.reason, `${d}: ${reachable.message}`).toBe("AuthenticationFailed");
    }
    await waitFor("every VM held Pending with a reason", async () => {
      const list = JSON.parse(await kubectl(admin, ["get", "virtualmachines.omnivisor.io", "-n", ns, "-o", "json"])) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
      return list.items.length === drivers.length && list.items.every((vm) => vm.status?.conditions?.some((c) => c.type === "Ready" || c.type === "Scheduled")) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    // a few more connection attempts, so retries and backoff logging are in the sweep too
    await new Promise((r) => setTimeout(r, 5_000));

    const kinds = ["hosts", "datacenters", "hostpools", "virtualmachines", "vapps", "vdcquotas", "hapolicies", "drspolicies", "vmmigrations"].map((k) => `${k}.omnivisor.io`);
    const swept: Record<string, string> = {
      "operator log": (operator?.output ?? []).join(""),
      Events: await kubectl(admin, ["get", "events", "-A", "-o", "json"]),
      "events.k8s.io Events": await kubectl(admin, ["get", "events.events.k8s.io", "-A", "-o", "json"]),
      "omnivisor objects": await kubectl(admin, ["get", kinds.join(","), "-A", "-o", "json"]),
    };
    expect(swept["operator log"]!.length, "the operator logged its attempts").toBeGreaterThan(0);
    // what is secret: passwords and private keys (a user name or a certificate is not)
    const keys = drivers.flatMap((d) => [secrets[d]["password"], secrets[d]["tls.key"]]).filter((v): v is string => v !== undefined);
    const every = [...keys, ...Object.values(real), ...Object.values(inEndpoints)];
    // a key also in pieces: its base64 body, and what that body decodes to
    const pieces = every.flatMap((s) => (s.includes("BEGIN") ? [s, s.split("\n")[1]!, Buffer.from(s.split("\n")[1]!, "base64").toString("utf8")] : [s]));
    for (const [where, text] of Object.entries(swept)) {
      for (const secret of pieces) expect(text.includes(secret), `${where} shows a secret (${secret.slice(0, 14)}…)`).toBe(false);
    }
  });
});
