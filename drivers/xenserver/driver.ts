// The XenServer / XCP-ng driver: XAPI through `xen-api` (Xen Orchestra's client) over
// JSON-RPC. connect() logs in with the Host's username and password. The endpoint is one host of
// the pool (the master, or a member: xen-api follows HOST_IS_SLAVE to the master); the session
// stands for that host, and reports and acts on its VMs only (./residency.ts).
import type { Credentials, Driver, HostConnection, Session } from "../contract/index.ts";
import { XapiClient } from "./client.ts";
import { XenServerSession } from "./session.ts";

export class XenServerDriver implements Driver {
  readonly kind = "xenserver" as const;

  async connect(host: HostConnection, credentials: Credentials | undefined, signal: AbortSignal): Promise<Session> {
    const client = new XapiClient(host, credentials);
    await client.connect(signal);
    try {
      return await XenServerSession.open(client, host);
    } catch (err) {
      await client.close();
      throw err;
    }
  }
}
