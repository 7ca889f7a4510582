// FAKE XAPI — a XenServer / XCP-ng host's JSON-RPC endpoint (POST /jsonrpc), in-process on a
// loopback port, for the XenServer driver's tests. Written from the published XenAPI reference:
// session.login_with_password, <class>.get_all_records / get_record / get_by_uuid, the VM
// lifecycle, Async.* calls returning tasks (progress 0..1, task.cancel: pending → cancelling →
// cancelled with TASK_CANCELLED), event.inject and event.from with tokens. It keeps
// state, enforces the power-state rules and answers with XAPI's own error codes. A pool of
// several hosts listens at each member's address too (same port), where every call is refused
// with HOST_IS_SLAVE [master address], as a pool member refuses API calls (clients log in to the
// master instead). It is a fake: no hypervisor runs behind it.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { XapiDatabase, type XapiRecord } from "./database.ts";
import { addPoolMember, type FakeHostRefs, type FakeHostSize, seedHost } from "./host.ts";
import { type FakeTask, FakeVms, XapiFault } from "./vm.ts";

export interface FakeXapiOptions {
  username?: string;
  password?: string;
  host?: FakeHostSize;
  /**
   * Addresses of further hosts in the pool (loopback addresses such as "127.0.0.2"), so VMs can
   * pool_migrate. The fake listens at each of them too, on the master's port.
   */
  poolMembers?: string[];
  /** How long VM.pool_migrate takes (default 400 ms). */
  migrationMs?: number;
}

/** A method's work; Async.* calls also get their task (progress to report, a cancel to honour). */
type Handler = (args: unknown[], task?: FakeTask) => unknown;

export class FakeXapiServer {
  readonly db = new XapiDatabase();
  readonly refs: FakeHostRefs;
  readonly vms: FakeVms;
  /** Every method called, in order (tests check e.g. that a re-login happened). */
  readonly calls: string[] = [];
  private readonly username: string;
  private readonly password: string;
  private readonly sessions = new Set<string>();
  private readonly methods: Record<string, Handler>;
  private readonly server: Server;
  /** The listeners at the pool members' addresses (HOST_IS_SLAVE). */
  private readonly memberServers: Server[] = [];
  private readonly memberAddresses: string[];
  private readonly stopping = new AbortController();
  private losingEvents = false;

  private constructor(options: FakeXapiOptions) {
    this.username = options.username ?? "root";
    this.password = options.password ?? "fake-xapi-password";
    const size = options.host ?? { cpus: 8, memoryGiB: 32 };
    this.refs = seedHost(this.db, size);
    this.memberAddresses = options.poolMembers ?? [];
    for (const [i, address] of this.memberAddresses.entries()) this.refs.members.push(addPoolMember(this.db, size, `fake-xcp-${i + 2}`, address));
    this.vms = new FakeVms(this.db, this.refs, size.memoryGiB * 1024 ** 3);
    if (options.migrationMs !== undefined) this.vms.migrationMs = options.migrationMs;
    this.methods = this.table();
    this.server = createServer((req, res) => void this.serve(req, res));
  }

  static async start(options: FakeXapiOptions = {}): Promise<FakeXapiServer> {
    const fake = new FakeXapiServer(options);
    // The members listen on the master's port: a port free on 127.0.0.1 may be taken on another
    // loopback address, so a few ports are tried.
    for (let attempt = 1; ; attempt++) {
      await listen(fake.server, 0, "127.0.0.1");
      try {
        for (const address of fake.memberAddresses) {
          const member = createServer((req, res) => void fake.serveMember(req, res));
          fake.memberServers.push(member);
          await listen(member, fake.port, address);
        }
        return fake;
      } catch (err) {
        await fake.closeListeners();
        if (attempt >= 5 || (err as { code?: string }).code !== "EADDRINUSE") throw err;
      }
    }
  }

  private get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The pool master's endpoint. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The endpoint of pool member i (0: the first of options.poolMembers): a Host for that member names it. */
  memberUrl(i: number): string {
    const address = this.memberAddresses[i];
    if (address === undefined) throw new Error(`fake xapi: no pool member ${i}`);
    return `http://${address}:${this.port}`;
  }

  /** The event.from call in progress (or the next one) fails with EVENTS_LOST, as when a client falls too far behind. */
  loseEvents(): void {
    this.losingEvents = true;
  }

  /** Forgets every session, as a toolstack restart does: the next call gets SESSION_INVALID. */
  invalidateSessions(): void {
    this.sessions.clear();
  }

  /** Stops listening and cuts every open connection (long-polling event.from included). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.closeListeners();
  }

  private async closeListeners(): Promise<void> {
    const servers = [this.server, ...this.memberServers.splice(0)].filter((s) => s.listening);
    await Promise.all(
      servers.map((server) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        return closed;
      }),
    );
  }

  /** A pool member's endpoint: every call is HOST_IS_SLAVE with the master's address. */
  private async serveMember(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let id: unknown = null;
    try {
      id = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: unknown }).id ?? null;
    } catch {
      // not JSON: answered all the same
    }
    const master = String(this.db.get("host", this.refs.host)?.["address"]);
    reply(res, { jsonrpc: "2.0", error: { code: 1, message: "HOST_IS_SLAVE", data: [master] }, id });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let id: unknown = null;
    try {
      if (req.method !== "POST" || req.url?.split("?")[0] !== "/jsonrpc") {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const request = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: unknown; method?: unknown; params?: unknown };
      id = request.id ?? null;
      const result = await this.call(String(request.method), Array.isArray(request.params) ? request.params : []);
      reply(res, { jsonrpc: "2.0", result: result ?? "", id });
    } catch (err) {
      const fault = err instanceof XapiFault ? err : new XapiFault("INTERNAL_ERROR", [String(err)]);
      reply(res, { jsonrpc: "2.0", error: { code: 1, message: fault.code, data: fault.params }, id });
    }
  }

  private call(method: string, params: unknown[]): unknown {
    this.calls.push(method);
    if (method === "session.login_with_password") return this.login(params);
    if (method === "system.listMethods") return Object.keys(this.methods);
    const [session, ...args] = params;
    if (method === "session.logout") {
      this.sessions.delete(String(session));
      return "";
    }
    const async = method.startsWith("Async.");
    const handler = this.methods[async ? method.slice("Async.".length) : method];
    if (handler === undefined) throw new XapiFault("MESSAGE_METHOD_UNKNOWN", [method]);
    if (!this.sessions.has(String(session))) throw new XapiFault("SESSION_INVALID", [String(session)]);
    if (!async) return handler(args);
    return this.task(method, (task) => handler(args, task));
  }

  private login(params: unknown[]): string {
    const [user, password] = params;
    if (user !== this.username || password !== this.password) throw new XapiFault("SESSION_AUTHENTICATION_FAILED", [String(user), "Authentication failure"]);
    const session = `OpaqueRef:${randomUUID()}`;
    this.sessions.add(session);
    return session;
  }

  /**
   * An Async.* call: a task object that settles when the work does. The work reports progress
   * (0..1) and looks at `cancelling` between its steps; work that stops for a cancel throws
   * TASK_CANCELLED and the task ends "cancelled", as XAPI's do.
   */
  private task(name: string, work: (task: FakeTask) => unknown): string {
    const ref = this.db.add("task", {
      name_label: name,
      name_description: "",
      status: "pending",
      progress: 0,
      created: new Date().toISOString(),
      finished: "19700101T00:00:00Z",
      resident_on: this.refs.host,
      allowed_operations: ["cancel"],
      current_operations: {},
      result: "",
      error_info: [],
      other_config: {},
    });
    const db = this.db;
    const task: FakeTask = {
      ref,
      progress: (p) => db.update(ref, { progress: p }),
      get cancelling() {
        return db.get("task", ref)?.["status"] === "cancelling";
      },
    };
    void (async () => {
      const finished = new Date().toISOString();
      try {
        const result = await work(task);
        this.db.update(ref, { status: "success", progress: 1, finished, allowed_operations: [], result: typeof result === "string" ? result : "" });
      } catch (err) {
        const fault = err instanceof XapiFault ? err : new XapiFault("INTERNAL_ERROR", [String(err)]);
        const status = fault.code === "TASK_CANCELLED" ? "cancelled" : "failure";
        this.db.update(ref, { status, progress: 1, finished, allowed_operations: [], error_info: [fault.code, ...fault.params] });
      }
    })();
    return ref;
  }

  /** task.cancel: only a pending task that allows it; the work stops at its next step. */
  private cancelTask(ref: unknown): void {
    const task = this.record("task", ref);
    if (task["status"] !== "pending" || !(task["allowed_operations"] as string[]).includes("cancel")) {
      throw new XapiFault("OPERATION_NOT_ALLOWED", [`task ${String(ref)} is ${String(task["status"])}; it cannot be cancelled`]);
    }
    this.db.update(ref as string, { status: "cancelling" });
  }

  private async eventFrom(classes: string[], token: string, timeoutSeconds: number): Promise<unknown> {
    const lowered = classes.map((c) => c.toLowerCase());
    if (token === "") return { events: this.db.snapshot(lowered), valid_ref_counts: this.db.validRefCounts(lowered), token: this.db.token() };
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const events = this.db.since(token, lowered);
      if (events === undefined || this.losingEvents) {
        this.losingEvents = false;
        throw new XapiFault("EVENTS_LOST");
      }
      const left = deadline - Date.now();
      if (events.length > 0 || left <= 0 || this.stopping.signal.aborted) {
        return { events, valid_ref_counts: this.db.validRefCounts(lowered), token: this.db.token() };
      }
      await this.db.waitForEvent(left, this.stopping.signal);
    }
  }

  private table(): Record<string, Handler> {
    const vms = this.vms;
    const db = this.db;
    const table: Record<string, Handler> = {
      "event.from": ([classes, token, timeout]) => this.eventFrom(classes as string[], String(token), Number(timeout)),
      "event.inject": ([cls, ref]) => {
        db.update(String(ref), {});
        void cls;
        return db.token();
      },
      "VM.get_by_name_label": ([name]) => db.all("VM").filter(([, r]) => r["name_label"] === name).map(([ref]) => ref),
      "VM.clone": ([vm, name]) => vms.clone(vm, name),
      "VM.provision": ([vm]) => vms.provision(vm),
      "VM.set_is_a_template": ([vm, value]) => vms.set(vm, { is_a_template: value === true }),
      "VM.set_name_description": ([vm, value]) => vms.set(vm, { name_description: String(value) }),
      "VM.add_to_other_config": ([vm, key, value]) => vms.addToOtherConfig(vm, key, value),
      "VM.remove_from_other_config": ([vm, key]) => vms.removeFromOtherConfig(vm, key),
      "VM.add_to_xenstore_data": ([vm, key, value]) => vms.addToXenstoreData(vm, key, value),
      "VM.remove_from_xenstore_data": ([vm, key]) => vms.removeFromXenstoreData(vm, key),
      "VM.set_VCPUs_max": ([vm, n]) => vms.setHalted(vm, { VCPUs_max: Number(n) }),
      "VM.set_VCPUs_at_startup": ([vm, n]) => vms.setHalted(vm, { VCPUs_at_startup: Number(n) }),
      "VM.set_memory_limits": ([vm, smin, smax, dmin, dmax]) =>
        vms.setHalted(vm, { memory_static_min: Number(smin), memory_static_max: Number(smax), memory_dynamic_min: Number(dmin), memory_dynamic_max: Number(dmax) }),
      "VM.pool_migrate": ([vm, host], task) => vms.poolMigrate(vm, host, task),
      "VM.set_affinity": ([vm, host]) => vms.set(vm, { affinity: String(host) }),
      "VM.start": ([vm, paused]) => vms.start(vm, paused === true),
      "VM.start_on": ([vm, host, paused]) => vms.startOn(vm, host, paused === true),
      "VM.clean_shutdown": ([vm]) => vms.cleanShutdown(vm),
      "VM.hard_shutdown": ([vm]) => vms.hardShutdown(vm),
      "VM.pause": ([vm]) => vms.pause(vm),
      "VM.unpause": ([vm]) => vms.unpause(vm),
      "VM.destroy": ([vm]) => vms.destroy(vm),
      "task.destroy": ([task]) => db.remove(String(task)),
      "task.cancel": ([task]) => this.cancelTask(task),
    };
    table["VIF.create"] = ([record]) => vms.createVif(record as XapiRecord);
    table["VDI.destroy"] = ([vdi]) => vms.destroyVdi(vdi);
    // pool.other_config: a map like VM.other_config (add fails with MAP_DUPLICATE_KEY when the key exists)
    const poolConfig = (ref: unknown): Record<string, string> => ({ ...((this.record("pool", ref))["other_config"] as Record<string, string>) });
    table["pool.get_other_config"] = ([ref]) => poolConfig(ref);
    table["pool.add_to_other_config"] = ([ref, key, value]) => {
      const config = poolConfig(ref);
      if (String(key) in config) throw new XapiFault("MAP_DUPLICATE_KEY", ["pool", "other_config", String(ref), String(key)]);
      db.update(String(ref), { other_config: { ...config, [String(key)]: String(value) } });
    };
    table["pool.remove_from_other_config"] = ([ref, key]) => {
      const config = poolConfig(ref);
      delete config[String(key)];
      db.update(String(ref), { other_config: config });
    };
    table["network.get_by_name_label"] = ([name]) => db.all("network").filter(([, r]) => r["name_label"] === name).map(([ref]) => ref);
    for (const cls of ["VM", "host", "host_metrics", "host_cpu", "pool", "task", "SR", "VDI", "VBD", "VIF", "network", "VM_guest_metrics", "VM_metrics"]) {
      table[`${cls}.get_all_records`] = () => Object.fromEntries(db.all(cls));
      table[`${cls}.get_all`] = () => db.all(cls).map(([ref]) => ref);
      table[`${cls}.get_record`] = ([ref]) => this.record(cls, ref);
      table[`${cls}.get_by_uuid`] = ([uuid]) => {
        const found = db.all(cls).find(([, r]) => r["uuid"] === uuid);
        if (found === undefined) throw new XapiFault("UUID_INVALID", [cls, String(uuid)]);
        return found[0];
      };
    }
    return table;
  }

  private record(cls: string, ref: unknown): XapiRecord {
    const record = typeof ref === "string" ? this.db.get(cls, ref) : undefined;
    if (record === undefined) throw new XapiFault("HANDLE_INVALID", [cls, String(ref)]);
    return record;
  }
}

function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function reply(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  // xen-api checks the content type exactly: anything else means "no JSON-RPC, try XML-RPC".
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}
