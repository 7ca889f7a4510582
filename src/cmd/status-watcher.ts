// The Omnivisor status watcher: `node src/cmd/status-watcher.ts --help`.
// Follows the hypervisor events of the Hosts bound to its node (spec.node), reports VM state
// changes into VirtualMachine status within a second, and renews a heartbeat Lease per host.
// Hosts that name no node are followed by the controller manager. Exits 0 after SIGTERM/SIGINT.
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { Agent, describeScope } from "../agent/agent.ts";
import { credentialsNamespacesFrom } from "../fleet/sessions.ts";
import { loadKubeConfig } from "../runtime/kubeconfig.ts";
import { createLogger, describeError, type LogLevel } from "../runtime/log.ts";
import { guardProcess } from "../runtime/process-guard.ts";

const help = `Usage: node src/cmd/status-watcher.ts [flags]

Flags (environment variable in brackets):
  --kubeconfig PATH          kubeconfig to use [KUBECONFIG]; default: in-cluster, then ~/.kube/config
  --node NAME                the node this watcher runs on [NODE_NAME]: it follows the Hosts
                             whose spec.node names it (required; the DaemonSet passes
                             spec.nodeName through the Downward API)
  --lease-namespace NS       namespace of the per-host heartbeat Leases [OMNIVISOR_NAMESPACE] (default omnivisor-system)
  --credentials-namespaces NS,NS
                             namespaces Host credentials Secrets may come from
                             [OMNIVISOR_CREDENTIALS_NAMESPACES] (default: --lease-namespace)
  --heartbeat-interval S     seconds between heartbeat renewals (default 5)
  --watch-namespace NS       report VMs of this namespace only (default: all)
  --identity ID              holder identity in the Leases [POD_NAME] (default hostname_pid)
  --log-level LEVEL          debug | info | warn | error (default info)
  -h, --help                 this text
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      node: { type: "string" },
      "lease-namespace": { type: "string" },
      "credentials-namespaces": { type: "string" },
      "heartbeat-interval": { type: "string", default: "5" },
      "watch-namespace": { type: "string" },
      identity: { type: "string" },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const env = process.env;
  const identity = values.identity ?? env.POD_NAME ?? `${hostname()}_${process.pid}`;
  const log = createLogger({ level: values["log-level"] as LogLevel, fields: { identity, component: "status-watcher" } });
  guardProcess(log);
  const kc = loadKubeConfig(values.kubeconfig ?? env.KUBECONFIG);
  const node = values.node ?? env.NODE_NAME;
  if (!node) {
    process.stderr.write("status watcher: --node (or NODE_NAME) is required: it follows the Hosts whose spec.node names this node\n");
    return 2;
  }
  const scope = { node };
  const leaseNamespace = values["lease-namespace"] ?? env.OMNIVISOR_NAMESPACE ?? "omnivisor-system";
  const agent = new Agent({
    kc,
    log,
    identity,
    scope,
    leaseNamespace,
    credentialsNamespaces: credentialsNamespacesFrom(values["credentials-namespaces"], leaseNamespace),
    heartbeatIntervalMs: Number(values["heartbeat-interval"]) * 1000,
    ...(values["watch-namespace"] ? { watchNamespace: values["watch-namespace"] } : {}),
  });
  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => stop.abort());
  log.info("status watcher starting", { serves: describeScope(scope) });
  await agent.run(stop.signal);
  log.info("status watcher exiting");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), level: "error", msg: "status watcher failed", error: describeError(err) })}\n`);
    process.exit(1);
  },
);
