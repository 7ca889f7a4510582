// A vim25 session: RetrieveServiceContent, Login with the vmware_soap_session cookie, a keep-alive
// call so an idle ESXi (30 min default) does not expire the session, and one transparent re-login
// when a call fails with NotAuthenticated. Credentials live in private fields only.
import type { Agent } from "node:https";
import { moRef, envelope, type Arg, type MoRef } from "./encode.ts";
import { agentFor, type TlsTrust } from "./tls.ts";
import { isNotAuthenticated, post } from "./transport.ts";
import { child, textAt, type XmlElement } from "./xml.ts";

/** We speak the 6.5 dialect: every method the driver uses exists there, and ESXi 6.5–8 accept it. */
const soapAction = "urn:vim25/6.5";

export interface VimEndpoint {
  /** e.g. https://esxi.example:443/sdk */
  url: string;
  trust: TlsTrust;
  username: string;
  password: string;
  /** How often an idle session is touched; default 10 minutes. */
  keepAliveMs?: number;
}

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  sessionManager: MoRef;
  viewManager: MoRef;
  fileManager: MoRef;
  virtualDiskManager: MoRef;
  /** SearchIndex: finds an entity by name in a folder without listing the folder. */
  searchIndex: MoRef | undefined;
  about: { fullName: string; version: string; apiType: string; apiVersion: string };
}

export function readMoRef(el: XmlElement | undefined): MoRef | undefined {
  if (!el) return undefined;
  return moRef(el.attrs["type"] ?? "", el.text);
}

function requireRef(el: XmlElement, name: string): MoRef {
  const ref = readMoRef(child(el, name));
  if (!ref) throw new Error(`ServiceContent has no ${name}`);
  return ref;
}

export class VimClient {
  readonly url: URL;
  readonly #agent: Agent;
  readonly #username: string;
  readonly #password: string;
  #cookie: string | undefined;
  #content: ServiceContent | undefined;
  #relogin: Promise<void> | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #renewed = new Set<() => void>();
  /** Counts re-logins, so calls that failed on the same expired session log in only once. */
  #generation = 0;
  readonly #keepAliveMs: number;

  constructor(endpoint: VimEndpoint) {
    this.url = new URL(endpoint.url);
    this.#agent = agentFor(endpoint.trust);
    this.#username = endpoint.username;
    this.#password = endpoint.password;
    this.#keepAliveMs = endpoint.keepAliveMs ?? 600_000;
  }

  /** How many times the session was renewed; see reauthenticate(). */
  get generation(): number {
    return this.#generation;
  }

  get content(): ServiceContent {
    if (!this.#content) throw new Error("vim25 client is not connected");
    return this.#content;
  }

  /** Reads the service content and logs in. */
  async connect(signal?: AbortSignal): Promise<void> {
    const res = await this.#raw("RetrieveServiceContent", moRef("ServiceInstance", "ServiceInstance"), {}, signal);
    const sc = child(res, "returnval")!;
    const about = child(sc, "about");
    this.#content = {
      rootFolder: requireRef(sc, "rootFolder"),
      propertyCollector: requireRef(sc, "propertyCollector"),
      sessionManager: requireRef(sc, "sessionManager"),
      viewManager: requireRef(sc, "viewManager"),
      fileManager: requireRef(sc, "fileManager"),
      virtualDiskManager: requireRef(sc, "virtualDiskManager"),
      searchIndex: readMoRef(child(sc, "searchIndex")),
      about: {
        fullName: textAt(about, "fullName") ?? "",
        version: textAt(about, "version") ?? "",
        apiType: textAt(about, "apiType") ?? "",
        apiVersion: textAt(about, "apiVersion") ?? "",
      },
    };
    await this.#login(signal);
    this.#keepAlive = setInterval(() => {
      this.invoke("CurrentTime", moRef("ServiceInstance", "ServiceInstance"), {}).catch(() => {
        /* the next real call re-logs in or reports the outage */
      });
    }, this.#keepAliveMs);
    this.#keepAlive.unref();
  }

  async #login(signal?: AbortSignal): Promise<void> {
    this.#cookie = undefined;
    await this.#raw("Login", this.content.sessionManager, { userName: this.#username, password: this.#password }, signal);
    if (!this.#cookie) throw new Error(`Login to ${this.url.host} returned no session cookie`);
  }

  /** Calls a method; a NotAuthenticated answer (expired session) leads to one re-login and retry. */
  async invoke(method: string, target: MoRef, args: Record<string, Arg>, signal?: AbortSignal): Promise<XmlElement> {
    const generation = this.#generation;
    try {
      return await this.#raw(method, target, args, signal);
    } catch (err) {
      if (!isNotAuthenticated(err) || this.#closed) throw err;
      // Another call may have logged in again while this one was under way.
      if (generation === this.#generation) await this.reauthenticate(signal);
      return this.#raw(method, target, args, signal);
    }
  }

  /** Logs in again once, however many calls noticed the expired session at the same time. */
  reauthenticate(signal?: AbortSignal): Promise<void> {
    this.#relogin ??= this.#login(signal)
      .then(() => {
        this.#generation++;
        for (const listener of this.#renewed) listener();
      })
      .finally(() => {
        this.#relogin = undefined;
      });
    return this.#relogin;
  }

  /**
   * Calls `listener` after each re-login. Server-side objects of the old session (private
   * property collectors) are gone then, and a long poll on one may never return.
   */
  onRenewed(listener: () => void): () => void {
    this.#renewed.add(listener);
    return () => this.#renewed.delete(listener);
  }

  async #raw(method: string, target: MoRef, args: Record<string, Arg>, signal?: AbortSignal): Promise<XmlElement> {
    // WaitForUpdatesEx is a long poll (the driver asks for at most 30 s); everything else is quick.
    const timeoutMs = method === "WaitForUpdatesEx" ? 120_000 : 60_000;
    const res = await post({ url: this.url, agent: this.#agent, soapAction, method, xml: envelope(method, target, args), cookie: this.#cookie, signal, timeoutMs });
    if (res.sessionCookie) this.#cookie = res.sessionCookie;
    return res.body;
  }

  /** Logs out (best effort) and closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    try {
      if (this.#cookie && this.#content) await this.#raw("Logout", this.#content.sessionManager, {});
    } catch {
      /* the host may be gone; the session then expires on its own */
    } finally {
      this.#cookie = undefined;
      this.#agent.destroy();
    }
  }
}
