// A bare list-then-watch over HTTPS for harness tests, doing what an informer does at its core:
// list, watch from the list's resourceVersion, reconnect from the last version seen when the
// connection drops (e.g. the API server restarts), and relist when the server answers 410 Gone
// (a restarted API server's watch cache starts at its own resourceVersion), emitting the
// differences as synthetic events. The operator's real informers live in src/runtime.
import { readFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { kubeRequest, type TlsClient } from "../../src/local/kube-http.ts";

interface ObjectMeta {
  name: string;
  resourceVersion: string;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: { metadata: ObjectMeta };
}

interface RawEvent {
  type: string;
  object: { metadata: ObjectMeta; code?: number };
}

export class ListWatch {
  readonly events: WatchEvent[] = [];
  reconnects = 0;
  relists = 0;
  private readonly known = new Map<string, string>();
  private resourceVersion = "";
  private stopped = false;
  private current: ReturnType<typeof request> | undefined;

  private readonly tls: TlsClient;
  private readonly path: string;
  constructor(tls: TlsClient, path: string) {
    this.tls = tls;
    this.path = path;
  }

  async start(): Promise<void> {
    await this.list();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.current?.destroy();
  }

  private async list(): Promise<void> {
    const res = await kubeRequest(this.tls, "GET", this.path);
    if (res.status !== 200) throw new Error(`list ${this.path}: HTTP ${res.status}`);
    const body = JSON.parse(res.body) as { metadata: { resourceVersion: string }; items: { metadata: ObjectMeta }[] };
    const seen = new Set<string>();
    for (const item of body.items) {
      seen.add(item.metadata.name);
      const before = this.known.get(item.metadata.name);
      if (before === item.metadata.resourceVersion) continue;
      this.record({ type: before === undefined ? "ADDED" : "MODIFIED", object: item });
    }
    for (const [name, rv] of [...this.known]) {
      if (!seen.has(name)) this.record({ type: "DELETED", object: { metadata: { name, resourceVersion: rv } } });
    }
    this.resourceVersion = body.metadata.resourceVersion;
  }

  private record(ev: WatchEvent): void {
    if (ev.type === "DELETED") this.known.delete(ev.object.metadata.name);
    else this.known.set(ev.object.metadata.name, ev.object.metadata.resourceVersion);
    this.events.push(ev);
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL(`${this.path}?watch=1&allowWatchBookmarks=true&resourceVersion=${this.resourceVersion}`, this.tls.server);
    const options: RequestOptions = {
      ca: readFileSync(this.tls.ca),
      cert: readFileSync(this.tls.cert),
      key: readFileSync(this.tls.key),
    };
    let gone = false;
    let retried = false;
    const retry = (): void => {
      if (this.stopped || retried) return;
      retried = true;
      this.reconnects++;
      setTimeout(() => {
        if (!gone) return this.connect();
        this.relists++;
        this.list().then(
          () => this.connect(),
          () => { retried = false; gone = true; retry(); },
        );
      }, 200);
    };
    const req = request(url, options, (res) => {
      if (res.statusCode !== 200) {
        gone = res.statusCode === 410;
        res.resume();
        retry();
        return;
      }
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim()) this.handle(JSON.parse(line) as RawEvent, () => { gone = true; req.destroy(); });
        }
      });
      res.on("close", retry);
      res.on("error", retry);
    });
    req.on("error", retry);
    req.on("close", retry);
    req.end();
    this.current = req;
  }

  private handle(ev: RawEvent, onGone: () => void): void {
    if (ev.type === "ERROR") {
      if (ev.object.code === 410) onGone();
      return;
    }
    this.resourceVersion = ev.object.metadata.resourceVersion;
    if (ev.type === "ADDED" || ev.type === "MODIFIED" || ev.type === "DELETED") this.record({ type: ev.type, object: ev.object });
  }
}
