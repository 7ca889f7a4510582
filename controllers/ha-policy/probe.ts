// Strike two: a direct probe of a silent host's endpoint — a fresh connection through its driver
// and one host observation, within a short time. A host that answers is alive (its status
// watcher may be what died); one that does not is declared failed.
import type { Session } from "../../drivers/contract/index.ts";
import type { HostObject } from "../../src/fleet/kinds.ts";
import { describeError } from "../../src/runtime/log.ts";

export type ProbeResult = { answers: true } | { answers: false; why: string };

export async function probe(host: HostObject, connect: (host: HostObject, signal: AbortSignal) => Promise<Session>, timeoutMs = 3_000): Promise<ProbeResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  let session: Session | undefined;
  try {
    session = await connect(host, signal);
    const observed = await Promise.race([
      session.observeHost(),
      new Promise<never>((_r, reject) => signal.addEventListener("abort", () => reject(new Error(`no answer within ${timeoutMs} ms`)), { once: true })),
    ]);
    return observed.reachable ? { answers: true } : { answers: false, why: "the hypervisor reports itself unreachable" };
  } catch (err) {
    return { answers: false, why: describeError(err) };
  } finally {
    void session?.close().catch(() => undefined);
  }
}
