// Docker's /events stream as contract VM events. Docker reports "die" for every exit; whether
// that is a stop or a crash depends on whether someone asked (a "kill" event — `docker stop`
// and `docker kill` both send one — comes first) and on the exit code.
import type { Readable } from "node:stream";
import { identityFromMetadata, RetryableError, type VmEvent, type VmEventType } from "../contract/index.ts";

export interface DockerEventMessage {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

const direct: Record<string, VmEventType> = {
  create: "defined",
  start: "started",
  pause: "paused",
  unpause: "resumed",
  destroy: "deleted",
};

/** Turns docker events into VM events; keeps the little state needed to tell a stop from a crash. */
export class DockerEventTranslator {
  private readonly asked = new Set<string>();
  private readonly oom = new Set<string>();

  translate(msg: DockerEventMessage): VmEvent | undefined {
    const id = msg.Actor?.ID ?? msg.id;
    if (msg.Type !== "container" || id === undefined) return undefined;
    // "exec_start: sh" and the like carry a suffix after a colon.
    const action = (msg.Action ?? msg.status ?? "").split(":")[0] ?? "";
    let type = direct[action];
    let detail: string | undefined;
    if (action === "kill") this.asked.add(id);
    if (action === "oom") this.oom.add(id);
    if (action === "die") ({ type, detail } = this.exit(id, msg.Actor?.Attributes?.["exitCode"] ?? ""));
    if (action === "destroy") this.forget(id);
    if (type === undefined) return undefined;
    return vmEvent(type, id, msg, detail);
  }

  private exit(id: string, exitCode: string): { type: VmEventType; detail: string } {
    const asked = this.asked.delete(id);
    const oom = this.oom.delete(id);
    const type = !oom && (asked || exitCode === "0") ? "stopped" : "crashed";
    return { type, detail: `exit code ${exitCode}${oom ? " (out of memory)" : ""}` };
  }

  private forget(id: string): void {
    this.asked.delete(id);
    this.oom.delete(id);
  }
}

function vmEvent(type: VmEventType, id: string, msg: DockerEventMessage, detail: string | undefined): VmEvent {
  const attributes = msg.Actor?.Attributes ?? {};
  const name = attributes["name"] ?? "";
  const event: VmEvent = { type, externalId: id, name, at: eventTime(msg) };
  // Docker copies a container's labels into its events' attributes, so identity travels along.
  const identity = identityFromMetadata(attributes, name, id);
  if (identity !== undefined) event.identity = identity;
  if (detail !== undefined) event.detail = detail;
  return event;
}

function eventTime(msg: DockerEventMessage): Date {
  if (msg.timeNano !== undefined) return new Date(Math.floor(msg.timeNano / 1e6));
  if (msg.time !== undefined) return new Date(msg.time * 1000);
  return new Date();
}

/**
 * Reads newline-delimited JSON from the events stream and yields VM events. Ends quietly when
 * `signal` aborts; throws RetryableError when the stream ends or fails otherwise (dockerd went
 * away) — a watch never just stops.
 */
export async function* vmEvents(stream: Readable, signal: AbortSignal): AsyncGenerator<VmEvent> {
  const translator = new DockerEventTranslator();
  const onAbort = (): void => {
    stream.destroy();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  let buffered = "";
  try {
    for await (const chunk of stream) {
      buffered += String(chunk);
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
        if (line === "") continue;
        const event = translator.translate(JSON.parse(line) as DockerEventMessage);
        if (event !== undefined) yield event;
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw new RetryableError(`docker: the event stream failed: ${(err as Error).message}`, { reason: "connection", cause: err });
  } finally {
    signal.removeEventListener("abort", onAbort);
    stream.destroy();
  }
  if (signal.aborted) return;
  throw new RetryableError("docker: the event stream ended (dockerd restarted or the connection dropped)", { reason: "connection" });
}
