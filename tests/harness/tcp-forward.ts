// TEST HELPER — a TCP forwarder run as its own process (inside a test host's network namespace,
// tests/harness/host-network.ts): node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT.
// Prints "listening" once it accepts connections.
import { createConnection, createServer } from "node:net";

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write("usage: tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n");
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = createConnection(Number(targetPort), targetHost);
  for (const s of [client, upstream]) s.on("error", () => (client.destroy(), upstream.destroy()));
  client.pipe(upstream).pipe(client);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => process.exit(0));
