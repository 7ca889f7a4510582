// Task tracking: a *_Task method returns a Task reference at once; its TaskInfo says whether the
// job is queued, running, done (with a result) or failed (with a fault). The driver never waits
// for a long task inside a call; the next observation reads the task's state.
import type { VimClient } from "./client.ts";
import { readMoRef } from "./client.ts";
import type { Arg, MoRef } from "./encode.ts";
import { faultFromLocalized, type VimFault } from "./faults.ts";
import { retrieve } from "./property-collector.ts";
import { child, textAt, type XmlElement } from "./xml.ts";

export interface TaskInfo {
  task: MoRef;
  method: string;
  state: "queued" | "running" | "success" | "error";
  /** The result for a successful task (e.g. the new VM's reference for CreateVM_Task). */
  result: XmlElement | undefined;
  error: VimFault | undefined;
}

/** Starts a *_Task method and returns its Task reference. */
export async function startTask(client: VimClient, method: string, target: MoRef, args: Record<string, Arg>, signal?: AbortSignal): Promise<MoRef> {
  const res = await client.invoke(method, target, args, signal);
  return readMoRef(child(res, "returnval"))!;
}

export async function taskInfo(client: VimClient, task: MoRef, method: string, signal?: AbortSignal): Promise<TaskInfo> {
  const [content] = await retrieve(client, "Task", ["info"], { objects: [task] }, signal);
  const info = content?.props.get("info");
  const state = (textAt(info, "state") ?? "running") as TaskInfo["state"];
  const error = child(info, "error");
  return { task, method, state, result: child(info, "result"), error: error ? faultFromLocalized(method, error) : undefined };
}

/** The managed object a finished task produced (CreateVM_Task → the VirtualMachine). */
export function resultRef(info: TaskInfo): MoRef | undefined {
  return readMoRef(info.result);
}
