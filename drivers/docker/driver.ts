// The Docker driver: containers as VMs, through dockerode. connect() reaches dockerd over its
// unix socket or TCP (TLS with a client certificate for remote hosts) and checks it answers.
import Dockerode from "dockerode";
import { type Credentials, type Driver, type HostConnection, type Session, TerminalError } from "../contract/index.ts";
import { translateDockerError } from "./errors.ts";
import { DockerSession } from "./session.ts";

export function dockerodeOptions(host: HostConnection, credentials: Credentials | undefined): Dockerode.DockerOptions {
  let url: URL;
  try {
    url = new URL(host.endpoint);
  } catch {
    throw new TerminalError(`docker: endpoint ${host.endpoint} is not a URI`, { reason: "bad-endpoint" });
  }
  if (url.protocol === "unix:") return { socketPath: decodeURIComponent(url.pathname) };
  if (url.protocol !== "tcp:" && url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TerminalError(`docker: endpoint scheme ${url.protocol} is not unix, tcp, http or https`, { reason: "bad-endpoint" });
  }
  const tls = url.protocol === "https:" || host.tls !== undefined || credentials?.certPem !== undefined;
  const options: Dockerode.DockerOptions = {
    host: url.hostname,
    port: url.port === "" ? (tls ? 2376 : 2375) : Number(url.port),
    protocol: tls ? "https" : "http",
  };
  if (host.tls?.caPem !== undefined) options.ca = host.tls.caPem;
  if (credentials?.certPem !== undefined) options.cert = credentials.certPem;
  if (credentials?.keyPem !== undefined) options.key = credentials.keyPem;
  return options;
}

export class DockerDriver implements Driver {
  readonly kind = "docker" as const;

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const client = new Dockerode(dockerodeOptions(host, credentials));
    try {
      // The typings lack ping's options; dockerode passes abortSignal through to the request.
      const ping = client.ping.bind(client) as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping({ abortSignal: signal });
    } catch (err) {
      throw translateDockerError(err, `docker: ${host.endpoint} does not answer`);
    }
    return new DockerSession(client, host);
  }
}
