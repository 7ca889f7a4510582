// One XAPI connection through `xen-api` (Xen Orchestra's client) over JSON-RPC. It logs in with
// session.login_with_password, and on SESSION_INVALID (a toolstack restart, an expired session)
// logs in again and retries the call once — xen-api's own behaviour, which we keep. Every error
// leaves here translated (./errors.ts).
import { Xapi } from "xen-api";
import { type Credentials, type HostConnection, RetryableError, TerminalError } from "../contract/index.ts";
import { translateXapiError } from "./errors.ts";

/** event.from's long-poll: how long the host may hold a call open when nothing changes. */
export const eventPollSeconds = 30;
const callTimeoutMs = 60_000;

export class XapiClient {
  private readonly xapi: Xapi;
  private closed = false;

  constructor(host: HostConnection, credentials: Credentials | undefined) {
    const url = endpointUrl(host.endpoint);
    if (credentials?.username === undefined || credentials.password === undefined) {
      throw new TerminalError("xenserver: the Host's credentials need a username and a password", { reason: "credentials-missing" });
    }
    if (host.tls?.caPem !== undefined) {
      // xen-api builds its HTTPS agent itself and takes no CA: trust has to come from the system
      // roots (or NODE_EXTRA_CA_CERTS). Refusing is better than silently not pinning.
      throw new TerminalError("xenserver: a pinned CA is not supported through xen-api; trust the host's CA system-wide (NODE_EXTRA_CA_CERTS)", { reason: "ca-unsupported" });
    }
    this.xapi = new Xapi({
      url,
      auth: { user: credentials.username, password: credentials.password },
      transport: "json-rpc",
      allowUnauthorized: host.tls?.insecureSkipVerify === true,
      // Our watch() runs its own event.from loop; xen-api's object cache is not needed.
      watchEvents: false,
      callTimeout: (method) => (method === "event.from" ? (eventPollSeconds + 15) * 1000 : callTimeoutMs),
      httpInactivityTimeout: (eventPollSeconds + 15) * 1000,
      // Fail fast and let the controller's backoff retry: a dead host must not hold a call for 10 s.
      roCallRetryOptions: { tries: 1 },
      syncStackTraces: false,
    });
  }

  async connect(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new RetryableError("xenserver: connect aborted", { reason: "aborted" }));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([this.xapi.connect(), aborted]);
    } catch (err) {
      await this.xapi.disconnect().catch(() => undefined);
      throw translateXapiError(err, "login");
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Calls method (the session argument is added by xen-api); `what` names the step in errors. */
  async call<T>(what: string, method: string, ...args: unknown[]): Promise<T> {
    if (this.closed) throw new RetryableError(`xenserver: ${what}: the session is closed`, { reason: "closed" });
    try {
      // After a SESSION_INVALID that survived the retry, xen-api disconnects: log in again first.
      if (this.xapi.status !== "connected") await this.xapi.connect();
      return (await this.xapi.call(method, ...args)) as T;
    } catch (err) {
      throw translateXapiError(err, what);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.xapi.disconnect().catch(() => undefined);
  }
}

/** The endpoint as xen-api wants it: http(s)://host[:port], credentials never in the URL. */
function endpointUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TerminalError(`xenserver: endpoint ${endpoint} is not a URL`, { reason: "bad-endpoint" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TerminalError(`xenserver: endpoint scheme ${url.protocol} is not http or https`, { reason: "bad-endpoint" });
  if (url.username !== "" || url.password !== "") throw new TerminalError("xenserver: credentials belong in the Host's Secret, not in the endpoint URL", { reason: "bad-endpoint" });
  return `${url.protocol}//${url.host}`;
}
