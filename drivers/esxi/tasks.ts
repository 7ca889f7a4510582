// Waiting for a vim25 task, briefly. Defining, reconfiguring, powering and destroying a VM take
// seconds on ESXi, so the session waits up to a bound; a task still running after it is left to
// finish on its own and the next observation (or call) sees how it ended.
import type { VimClient } from "./vim25/client.ts";
import type { MoRef } from "./vim25/encode.ts";
import { taskInfo, type TaskInfo } from "./vim25/tasks.ts";

export async function waitTask(client: VimClient, task: MoRef, method: string, boundMs: number): Promise<TaskInfo> {
  const giveUpAt = Date.now() + boundMs;
  let delay = 20;
  for (;;) {
    const info = await taskInfo(client, task, method);
    if (info.state === "success" || info.state === "error" || Date.now() >= giveUpAt) return info;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

/** A task the session started and did not see finish, so later calls do not start a second one. */
export interface PendingTask {
  task: MoRef;
  method: string;
}
