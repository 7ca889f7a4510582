// The Omnivisor controller manager: `node src/cmd/manager.ts --help`.
// Every replica serves /metrics, /healthz and /readyz and keeps warm caches; the replica holding
// the Lease runs the controllers. Exits 0 after SIGTERM/SIGINT (lease released), 1 after losing
// the lease or on a start-up error.
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { loadKubeConfig } from "../runtime/kubeconfig.ts";
import { createLogger, describeError, type LogLevel } from "../runtime/log.ts";
import { guardProcess } from "../runtime/process-guard.ts";
import { Manager } from "../runtime/manager.ts";
import type { ControllerRegistration } from "../runtime/registry.ts";
import { datacenterController } from "../../controllers/datacenter/controller.ts";
import { hostPoolController } from "../../controllers/host-pool/controller.ts";
import { hostController } from "../../controllers/host/controller.ts";
import { statusWatcherInManager } from "../agent/in-manager.ts";
import { Drivers, HostSessions, credentialsNamespacesFrom } from "../fleet/sessions.ts";
import { LibvirtDriver } from "../../drivers/libvirt/index.ts";
import { virtualMachineController } from "../../controllers/virtual-machine/controller.ts";
import { vmMigrationController } from "../../controllers/vm-migration/controller.ts";
import { vAppController } from "../../controllers/vapp/controller.ts";
import { vdcQuotaController } from "../../controllers/vdc-quota/controller.ts";
import { quotaAdmission } from "../../controllers/vdc-quota/admission.ts";
import type { WebhookOptions } from "../runtime/manager.ts";
import { haPolicyController } from "../../controllers/ha-policy/controller.ts";
import { drsPolicyController } from "../../controllers/drs-policy/controller.ts";
import { SharedLiveUsage } from "../fleet/live-usage.ts";
import { fleetMetrics } from "../metrics/fleet.ts";
import { WebhookCertRotator } from "../runtime/webhook-cert-rotator.ts";

interface ControllerSettings {
  /** Namespace of the status watchers' heartbeat Leases (the same as the leader Lease's). */
  heartbeatNamespace: string;
  pollIntervalMs: number;
  watchedPollIntervalMs: number;
  /** VirtualMachines reconciled at once (their passes mostly wait on the API server and hypervisors). */
  concurrency: number;
  /** Follow the Hosts that name no node with the manager's own status watcher (undefined: no). */
  statusWatcher: { identity: string; heartbeatIntervalMs: number } | undefined;
  /** Moves at once: leaving one host, and in the whole cluster. */
  migrationLimits: { perHost: number; cluster: number };
  /** Namespaces Host credentials Secrets may come from. */
  credentialsNamespaces: readonly string[];
  /** How long an admission charge waits to be seen stored before the recount releases it. */
  chargeGraceMs: number;
}

/** The controllers of the Omnivisor kinds; each lives in controllers/<kind>/. Add yours here. */
function omnivisorControllers(settings: ControllerSettings): ControllerRegistration[] {
  // Host and VirtualMachine share one driver session per Host.
  // The manager's status watcher (Hosts bound to no node) borrows the same sessions.
  // libvirt keepalive 1 s × 5 missed pings (as the status watcher's): a partitioned host closes
  // no connection, and a VM pass waiting on it would hold that VM — an HA restart too — until
  // the keepalive gives up (~30 s with libvirt's default 5 s × 5)
  const sessions = new HostSessions(new Drivers({ libvirt: () => new LibvirtDriver({ keepalive: { intervalSeconds: 1, count: 5 } }) }), settings.credentialsNamespaces);
  const { statusWatcher, migrationLimits, chargeGraceMs, credentialsNamespaces: _credentials, ...vmSettings } = settings;
  // the Host controller records hosts' and VMs' live usage; DRS reads it
  const liveUsage = new SharedLiveUsage();
  return [
    datacenterController(),
    hostPoolController(),
    hostController({ sessions, liveUsage }),
    virtualMachineController({ sessions, ...vmSettings }),
    vmMigrationController({ sessions, limits: migrationLimits }),
    vAppController(),
    vdcQuotaController({ chargeGraceMs }),
    haPolicyController({ heartbeatNamespace: settings.heartbeatNamespace, credentialsNamespaces: settings.credentialsNamespaces }),
    drsPolicyController({ sessions, liveUsage }),
    fleetMetrics({ heartbeatNamespace: settings.heartbeatNamespace }),
    ...(statusWatcher ? [statusWatcherInManager({ sessions, leaseNamespace: settings.heartbeatNamespace, ...statusWatcher })] : []),
  ];
}

const help = `Usage: node src/cmd/manager.ts [flags]

Runs the Omnivisor controllers with leader election.

Flags (environment variable in brackets):
  --kubeconfig PATH         kubeconfig to use [KUBECONFIG]; default: in-cluster, then ~/.kube/config
  --namespace NS            namespace of the leader Lease and of the status watchers' heartbeat
                            Leases [OMNIVISOR_NAMESPACE] (default omnivisor-system)
  --credentials-namespaces NS,NS
                            namespaces Host credentials Secrets may come from; a Host naming a
                            Secret elsewhere is refused [OMNIVISOR_CREDENTIALS_NAMESPACES]
                            (default: --namespace)
  --lease-name NAME         name of the leader Lease [OMNIVISOR_LEASE_NAME] (default omnivisor-manager)
  --identity ID             this replica's identity in the Lease [POD_NAME] (default hostname_pid)
  --lease-duration S        seconds a standby waits before taking over a silent lease (default 15)
  --renew-deadline S        seconds the leader keeps trying to renew before giving up (default 10)
  --retry-period S          seconds between lease attempts (default 2)
  --no-leader-elect         reconcile without a Lease (a single replica only)
  --metrics-port PORT       port for /metrics, /healthz, /readyz [OMNIVISOR_METRICS_PORT] (default 8080, 0: any)
  --metrics-host HOST       address to bind [OMNIVISOR_METRICS_HOST] (default 127.0.0.1: loopback
                            only; set 0.0.0.0 where Prometheus scrapes the pod)
  --watch-namespace NS      watch objects in this namespace only [OMNIVISOR_WATCH_NAMESPACE] (default: all)
  --host-selector SELECTOR  serve only the Hosts with these labels (a label selector, e.g.
                            site=berlin) [OMNIVISOR_HOST_SELECTOR]: managers sharing one cluster
                            each serve their own Hosts, and place VMs on them only (default: all)
  --controllers A,B         run only these controllers (default: all)
  --resync-period S         reconcile every object this often even without changes (default 600)
  --poll-interval S         observe a converged VM this often when no status watcher follows its
                            host (default 15)
  --watched-poll-interval S the same while the host's status watcher heartbeat is fresh: it
                            reports changes within a second (default 300)
  --vm-workers N            VirtualMachines reconciled at once (default 32)
  --max-migrations N        VMMigrations running at once in the cluster (default 5)
  --max-migrations-per-host N
                            VMMigrations leaving one host at once (default 2)
  --webhook-cert-file PATH  serving certificate (PEM) of the admission webhook
                            [OMNIVISOR_WEBHOOK_CERT_FILE]; with --webhook-key-file the manager
                            serves the VDCQuota webhook (HTTPS) on every replica, and is not
                            ready until it does (default: no webhook)
  --webhook-key-file PATH   its private key (PEM) [OMNIVISOR_WEBHOOK_KEY_FILE]
  --webhook-cert-secret NAME
                            make and renew the webhook's certificates in this Secret of --namespace
                            (which must exist; every replica may fill it) instead of reading
                            --webhook-cert-file/--webhook-key-file (ADR 0032); needs
                            --webhook-configuration and --webhook-service
  --webhook-configuration NAME
                            the ValidatingWebhookConfiguration whose caBundle the manager sets
  --webhook-service NAME    the webhook's Service in --namespace (the certificate's DNS names)
  --webhook-cert-dir DIR    where each replica writes its copy of the serving certificate
                            (default /tmp/omnivisor-webhook)
  --webhook-cert-validity D days a serving certificate is valid (default 365; the CA: ten times that)
  --webhook-cert-renew-before D
                            days before its end a certificate is renewed (default 30)
  --webhook-port PORT       webhook port [OMNIVISOR_WEBHOOK_PORT] (default 9443, 0: any)
  --webhook-host HOST       webhook address [OMNIVISOR_WEBHOOK_HOST] (default 0.0.0.0: the API
                            server reaches the pod through a Service)
  --charge-grace S          seconds an admission charge waits to be seen stored before the
                            VDCQuota recount releases it (default 5)
  --heartbeat-interval S    seconds between heartbeat renewals of the Hosts the manager follows
                            itself (those whose spec.node names no node; default 5)
  --no-status-watcher       do not follow Hosts that name no node (their VMs are then observed
                            every --poll-interval only)
  --log-level LEVEL         debug | info | warn | error (default info)
  --test-widget-controller  TESTS ONLY: run (only) the Widget controller of tests/runtime/fixtures
  -h, --help                this text
`;

/** Loopback unless told otherwise: a pod's metrics are opened to the network only on purpose. */
function metricsHost(flag: string | undefined): string {
  return flag ?? process.env["OMNIVISOR_METRICS_HOST"] ?? "127.0.0.1";
}

/** The label selectors the manager's caches apply: Hosts only, when --host-selector says so. */
function selectors(hostSelector: string | undefined): Record<string, string> {
  return hostSelector ? { hosts: hostSelector } : {};
}

/** The admission webhook, when its certificate and key are given (flags, else environment). */
function webhookOptions(values: Record<string, string | boolean | undefined>, rotator: WebhookCertRotator | undefined): WebhookOptions | undefined {
  if (values["test-widget-controller"]) return undefined; // the runtime's tests run no webhook
  const env = process.env;
  const flag = (name: string, variable: string): string | undefined => (values[name] as string | undefined) ?? env[variable];
  if (rotator && (flag("webhook-cert-file", "OMNIVISOR_WEBHOOK_CERT_FILE") || flag("webhook-key-file", "OMNIVISOR_WEBHOOK_KEY_FILE"))) {
    throw new Error("--webhook-cert-secret makes the certificate files itself: give it or --webhook-cert-file/--webhook-key-file, not both");
  }
  const certFile = rotator?.certFile ?? flag("webhook-cert-file", "OMNIVISOR_WEBHOOK_CERT_FILE");
  const keyFile = rotator?.keyFile ?? flag("webhook-key-file", "OMNIVISOR_WEBHOOK_KEY_FILE");
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error("--webhook-cert-file and --webhook-key-file go together");
  const port = Number(flag("webhook-port", "OMNIVISOR_WEBHOOK_PORT") ?? 9443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--webhook-port must be a port number, not ${JSON.stringify(flag("webhook-port", "OMNIVISOR_WEBHOOK_PORT"))}`);
  return { certFile, keyFile, port, host: flag("webhook-host", "OMNIVISOR_WEBHOOK_HOST") ?? "0.0.0.0", handlers: [quotaAdmission()] };
}

/** The webhook's self-made certificates (--webhook-cert-secret), made usable before the manager starts. */
async function certRotator(values: Record<string, string | boolean | undefined>, options: { kc: ReturnType<typeof loadKubeConfig>; log: ReturnType<typeof createLogger>; namespace: string }): Promise<WebhookCertRotator | undefined> {
  const secret = values["webhook-cert-secret"] as string | undefined;
  if (!secret || values["test-widget-controller"]) return undefined;
  const need = (name: string): string => {
    const v = values[name] as string | undefined;
    if (!v) throw new Error(`--webhook-cert-secret needs --${name}`);
    return v;
  };
  const rotator = new WebhookCertRotator({
    ...options,
    secret,
    webhookConfiguration: need("webhook-configuration"),
    service: need("webhook-service"),
    dir: (values["webhook-cert-dir"] as string | undefined) ?? "/tmp/omnivisor-webhook",
    validityDays: positive("webhook-cert-validity", values["webhook-cert-validity"] as string),
    renewBeforeDays: positive("webhook-cert-renew-before", values["webhook-cert-renew-before"] as string),
  });
  await rotator.ensure();
  return rotator;
}

/** Renews the webhook's certificates while the manager runs, and serves the new ones. */
async function keepRenewing(rotator: WebhookCertRotator | undefined, manager: Manager, signal: AbortSignal): Promise<void> {
  if (rotator) await rotator.run(signal, () => manager.reloadWebhookCertificates());
}

/** A whole number ≥ 1 from a flag; anything else stops the start with the flag named. */
function positive(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a whole number of at least 1, not ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      "credentials-namespaces": { type: "string" },
      "lease-name": { type: "string" },
      identity: { type: "string" },
      "lease-duration": { type: "string", default: "15" },
      "renew-deadline": { type: "string", default: "10" },
      "retry-period": { type: "string", default: "2" },
      "no-leader-elect": { type: "boolean", default: false },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
      controllers: { type: "string" },
      "host-selector": { type: "string" },
      "watch-namespace": { type: "string" },
      "resync-period": { type: "string", default: "600" },
      "poll-interval": { type: "string", default: "15" },
      "watched-poll-interval": { type: "string", default: "300" },
      "vm-workers": { type: "string", default: "32" },
      "heartbeat-interval": { type: "string", default: "5" },
      "max-migrations": { type: "string", default: "5" },
      "max-migrations-per-host": { type: "string", default: "2" },
      "webhook-cert-file": { type: "string" },
      "webhook-key-file": { type: "string" },
      "webhook-port": { type: "string" },
      "webhook-cert-secret": { type: "string" },
      "webhook-configuration": { type: "string" },
      "webhook-service": { type: "string" },
      "webhook-cert-dir": { type: "string" },
      "webhook-cert-validity": { type: "string", default: "365" },
      "webhook-cert-renew-before": { type: "string", default: "30" },
      "webhook-host": { type: "string" },
      "charge-grace": { type: "string", default: "5" },
      "no-status-watcher": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      "test-widget-controller": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const env = process.env;
  const identity = values.identity ?? env.POD_NAME ?? `${hostname()}_${process.pid}`;
  const log = createLogger({ level: values["log-level"] as LogLevel, fields: { identity } });
  guardProcess(log);
  const kc = loadKubeConfig(values.kubeconfig ?? env.KUBECONFIG);

  const seconds = (flag: string | undefined): number => Number(flag) * 1000;
  const resyncPeriodMs = seconds(values["resync-period"]);
  // The runtime's tests run the Widget controller alone: Hosts are cluster-wide, and a test
  // manager must not reconcile (and connect to) the Hosts of other scenarios.
  const leaseNamespace = values.namespace ?? env.OMNIVISOR_NAMESPACE ?? "omnivisor-system";
  const registrations = values["test-widget-controller"]
    ? [await testWidgetController(resyncPeriodMs, identity)]
    : omnivisorControllers({
        heartbeatNamespace: leaseNamespace,
        pollIntervalMs: seconds(values["poll-interval"]),
        watchedPollIntervalMs: seconds(values["watched-poll-interval"]),
        concurrency: Number(values["vm-workers"]),
        statusWatcher: values["no-status-watcher"] ? undefined : { identity, heartbeatIntervalMs: seconds(values["heartbeat-interval"]) },
        credentialsNamespaces: credentialsNamespacesFrom(values["credentials-namespaces"], leaseNamespace),
        migrationLimits: { perHost: positive("max-migrations-per-host", values["max-migrations-per-host"]), cluster: positive("max-migrations", values["max-migrations"]) },
        chargeGraceMs: seconds(values["charge-grace"]),
      });
  const rotator = await certRotator(values, { kc, log, namespace: leaseNamespace });
  const wanted = values.controllers?.split(",").map((s) => s.trim());
  const selected = wanted ? registrations.filter((r) => wanted.includes(r.name)) : registrations;

  const manager = new Manager({
    kc,
    log,
    controllers: selected,
    metricsPort: Number(values["metrics-port"] ?? env.OMNIVISOR_METRICS_PORT ?? 8080),
    metricsHost: metricsHost(values["metrics-host"]),
    watchNamespace: values["watch-namespace"] ?? env.OMNIVISOR_WATCH_NAMESPACE,
    labelSelectors: selectors(values["host-selector"] ?? env.OMNIVISOR_HOST_SELECTOR),
    webhook: webhookOptions(values, rotator),
    leaderElection: values["no-leader-elect"]
      ? undefined
      : {
          namespace: leaseNamespace,
          name: values["lease-name"] ?? env.OMNIVISOR_LEASE_NAME ?? "omnivisor-manager",
          identity,
          leaseDurationMs: seconds(values["lease-duration"]),
          renewDeadlineMs: seconds(values["renew-deadline"]),
          retryPeriodMs: seconds(values["retry-period"]),
        },
  });
  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => stop.abort());
  log.info("manager starting", { controllers: selected.map((r) => r.name) });
  const renewing = keepRenewing(rotator, manager, stop.signal);
  const exit = await manager.run(stop.signal);
  stop.abort();
  await renewing;
  log.info("manager exiting", { reason: exit });
  return exit === "stopped" ? 0 : 1;
}

/** Loaded only behind the test flag, from a path the product build never follows. */
async function testWidgetController(resyncPeriodMs: number, identity: string): Promise<ControllerRegistration> {
  const path = new URL("../../tests/runtime/fixtures/widget-controller.ts", import.meta.url).href;
  const mod = (await import(path)) as { widgetController(options: { resyncPeriodMs: number; identity: string }): ControllerRegistration };
  return mod.widgetController({ resyncPeriodMs, identity });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), level: "error", msg: "manager failed", error: describeError(err) })}\n`);
    process.exit(1);
  },
);
