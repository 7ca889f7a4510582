// Collects a session's VM events in the background so conformance tests can wait for the ones
// they expect ("eventually", never a fixed sleep).
import { vi } from "vitest";
import type { VmEvent, VmEventType } from "../contract/index.ts";

export class EventRecorder {
  readonly events: VmEvent[] = [];
  /** What ended the stream other than an abort (kept so a test can show it). */
  failure: unknown;
  private running: Promise<void> = Promise.resolve();

  start(stream: AsyncIterable<VmEvent>): void {
    this.running = (async () => {
      try {
        for await (const event of stream) this.events.push(event);
      } catch (err) {
        this.failure = err;
      }
    })();
  }

  /** Resolves when the stream has ended (after its signal aborted). */
  done(): Promise<void> {
    return this.running;
  }

  types(externalId: string): VmEventType[] {
    return this.events.filter((e) => e.externalId === externalId).map((e) => e.type);
  }

  /** Waits until every type in `types` has been seen, in this order, for the VM. */
  async waitFor(externalId: string, types: VmEventType[], timeoutMs: number): Promise<VmEvent[]> {
    await vi.waitFor(
      () => {
        if (this.failure !== undefined) throw new Error(`the event stream failed: ${(this.failure as Error).message}`, { cause: this.failure });
        const seen = this.types(externalId);
        let at = 0;
        for (const type of seen) if (type === types[at]) at++;
        if (at < types.length) throw new Error(`events for ${externalId}: saw [${seen.join(", ")}], want [${types.join(", ")}] in order`);
      },
      { timeout: timeoutMs, interval: 50 },
    );
    return this.events.filter((e) => e.externalId === externalId);
  }
}
