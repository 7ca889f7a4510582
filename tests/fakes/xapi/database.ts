// FAKE XAPI — the object database of a fake XenServer host, with the event log event.from reads.
// Written from the published XenAPI reference (classes pool, host, host_metrics, host_cpu, VM, VM_metrics,
// task, event); it is a test double for the XenServer driver, not a XenServer.
import { randomUUID } from "node:crypto";

export type XapiRecord = Record<string, unknown>;

export interface XapiEvent {
  id: string;
  timestamp: string;
  class: string;
  operation: "add" | "mod" | "del";
  ref: string;
  obj_uuid?: string;
  snapshot?: XapiRecord;
}

interface Stored {
  cls: string;
  record: XapiRecord;
}

/** How many events the log keeps; an older token gets EVENTS_LOST, as on a real host. */
const eventLogSize = 5_000;

export class XapiDatabase {
  private readonly objects = new Map<string, Stored>();
  private readonly log: { seq: number; event: XapiEvent }[] = [];
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  /** The uuids of deleted objects, for the obj_uuid of their "del" events. */
  private readonly uuids = new Map<string, string>();

  newRef(): string {
    return `OpaqueRef:${randomUUID()}`;
  }

  add(cls: string, record: XapiRecord, ref = this.newRef()): string {
    this.objects.set(ref, { cls, record: { ...record, uuid: typeof record["uuid"] === "string" ? record["uuid"] : randomUUID() } });
    this.emit("add", cls, ref);
    return ref;
  }

  /** The record of ref when it is of class cls; undefined otherwise. */
  get(cls: string, ref: string): XapiRecord | undefined {
    const stored = this.objects.get(ref);
    return stored?.cls === cls ? stored.record : undefined;
  }

  update(ref: string, patch: XapiRecord): void {
    const stored = this.objects.get(ref);
    if (stored === undefined) return;
    stored.record = { ...stored.record, ...patch };
    this.emit("mod", stored.cls, ref);
  }

  remove(ref: string): void {
    const stored = this.objects.get(ref);
    if (stored === undefined) return;
    this.uuids.set(ref, String(stored.record["uuid"]));
    this.objects.delete(ref);
    this.emit("del", stored.cls, ref);
  }

  all(cls: string): [string, XapiRecord][] {
    return [...this.objects].filter(([, s]) => s.cls === cls).map(([ref, s]) => [ref, s.record]);
  }

  /** A token for "now": events after it are new. */
  token(): string {
    return String(this.seq).padStart(20, "0");
  }

  /** Events after token for the given classes ("*" for all); undefined when the token is too old. */
  since(token: string, classes: string[]): XapiEvent[] | undefined {
    const from = token === "" ? 0 : Number(token);
    const oldest = this.log[0]?.seq ?? this.seq + 1;
    if (from > 0 && from < oldest - 1) return undefined;
    const wanted = (cls: string): boolean => classes.includes("*") || classes.includes(cls.toLowerCase());
    return this.log.filter((e) => e.seq > from && wanted(e.event.class)).map((e) => e.event);
  }

  /** All current objects of the classes as "add" events (event.from with an empty token). */
  snapshot(classes: string[]): XapiEvent[] {
    const wanted = (cls: string): boolean => classes.includes("*") || classes.includes(cls.toLowerCase());
    return [...this.objects]
      .filter(([, s]) => wanted(s.cls))
      .map(([ref, s]) => ({ id: this.token(), timestamp: stamp(), class: s.cls.toLowerCase(), operation: "add" as const, ref, snapshot: s.record }));
  }

  validRefCounts(classes: string[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [, s] of this.objects) {
      const cls = s.cls.toLowerCase();
      if (classes.includes("*") || classes.includes(cls)) counts[cls] = (counts[cls] ?? 0) + 1;
    }
    return counts;
  }

  /** Resolves when a new event is logged or after ms, whichever comes first. */
  waitForEvent(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener("abort", done);
    });
  }

  private uuidOf(ref: string): string {
    const uuid = this.objects.get(ref)?.record["uuid"];
    return typeof uuid === "string" ? uuid : (this.uuids.get(ref) ?? "");
  }

  private emit(operation: XapiEvent["operation"], cls: string, ref: string): void {
    this.seq++;
    const record = this.objects.get(ref)?.record;
    const event: XapiEvent = { id: this.token(), timestamp: stamp(), class: cls.toLowerCase(), operation, ref, obj_uuid: this.uuidOf(ref) };
    if (operation !== "del" && record !== undefined) event.snapshot = structuredClone(record);
    this.log.push({ seq: this.seq, event });
    if (this.log.length > eventLogSize) this.log.shift();
    for (const wake of [...this.waiters]) wake();
  }
}

/** XAPI's datetime format (ISO 8601 basic, UTC). */
function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
