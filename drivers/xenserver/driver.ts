// The XenServer / XCP-ng driver: XAPI through `xen-api` (Xen Orchestra's client) over
// JSON-RPC. connect() logs in with the Host's username and password; the endpoint is the pool
// master's http(s) URL.
import type { Credentials, Driver, HostConnection, Session } from "../contract/index.ts";
import { XapiClient } from "./client.ts";
import { XenServerSession } from "./session.ts";

export class XenServerDriver implements Driver {
  readonly kind = "xenserver" as const;

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const client = new XapiClient(host, credentials);
    await client.connect(signal);
    return new XenServerSession(client, host);
  }
}
