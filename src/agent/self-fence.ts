// Watchdog fencing, the status watcher's half (Host.spec.fencing.method Watchdog): once the
// watcher has not renewed its host's heartbeat Lease for selfFenceAfterSeconds — counted from the
// START of its last renewal that succeeded — it destroys every VM Omnivisor manages on the host
// (a hard stop through the host's own API, confirmed by a listing), and keeps destroying any that
// runs while the silence lasts. The HAPolicy controller restarts them elsewhere only after the
// lease's duration + that time + a margin (controllers/ha-policy/fence.ts): it never has to reach
// the host. The session is opened while the API server still answers (a credentials Secret cannot
// be read during a partition) and kept; it is reopened if it fails.
//
// What it cannot do: act when this process is dead or its hypervisor does not answer. A host's
// hardware watchdog fed by the watcher would cover both (not done: see ADR 0040); tests never arm
// the machine's watchdog.
import { setTimeout as sleep } from "node:timers/promises";
import type { Session } from "../../drivers/contract/index.ts";
import { describeError, type Logger } from "../runtime/log.ts";

export interface SelfFenceOptions {
  host: string;
  /** selfFenceAfterSeconds, in ms. */
  afterMs: number;
  /** When (performance.now()) the last renewal that succeeded was sent. */
  lastRenewedAt: () => number;
  connect: (signal: AbortSignal) => Promise<Session>;
  log: Logger;
  /** How often the silence is looked at (default 250 ms). */
  tickMs?: number;
}

export class SelfFence {
  /** Managed VMs this watcher destroyed, over its life. */
  destroyed = 0;
  /** When (performance.now()) the last self-fence found no managed VM running. */
  confirmedAt: number | undefined;
  private readonly options: SelfFenceOptions;
  private session: Promise<Session> | undefined;
  /** When the last connect was tried (reconnects at most once a second), and the last failure logged (said once, not every tick). */
  private openedAt = -Infinity;
  private lastFailure: string | undefined;

  constructor(options: SelfFenceOptions) {
    this.options = options;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { afterMs, lastRenewedAt, tickMs = 250 } = this.options;
    let fencing = false;
    while (!signal.aborted) {
      const silentMs = performance.now() - lastRenewedAt();
      if (silentMs < afterMs) {
        if (fencing) this.options.log.info("heartbeat renewed again: self-fence over", { host: this.options.host });
        fencing = false;
        this.confirmedAt = undefined;
        this.lastFailure = undefined;
        // keep a session ready while the API server answers
        if (!this.session && performance.now() - this.openedAt >= 5_000) this.open();
      } else {
        if (!fencing) this.options.log.error("heartbeat not renewed: self-fencing (destroying the host's managed VMs)", { host: this.options.host, silentMs: Math.round(silentMs), afterMs });
        fencing = true;
        await this.destroyManaged();
      }
      await sleep(tickMs, undefined, { signal }).catch(() => undefined); // (removes its abort listener: no pile-up over hours of ticks)
    }
    await this.close();
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.then((x) => x.close()).catch(() => undefined);
  }

  private open(): void {
    this.openedAt = performance.now();
    const session = this.options.connect(AbortSignal.timeout(15_000));
    session.catch(() => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
  }

  /** Hard-stops every managed VM that runs, then lists again; a failure drops the session (reopened next tick). */
  private async destroyManaged(): Promise<void> {
    const { host, log } = this.options;
    if (!this.session) {
      if (performance.now() - this.openedAt < 1_000) return;
      this.open();
    }
    try {
      const session = await this.session!;
      const running = (await session.listVms()).filter((v) => v.managed && v.identity && v.power !== "Stopped" && v.power !== "Crashed");
      for (const vm of running) await session.setPower(vm.identity!, { state: "Stopped", mode: "Hard" });
      const left = (await session.listVms()).filter((v) => v.managed && v.power !== "Stopped" && v.power !== "Crashed");
      this.destroyed += running.length;
      if (running.length > 0) log.error("self-fenced", { host, destroyed: running.map((v) => v.name), stillRunning: left.length });
      if (left.length === 0) this.confirmedAt ??= performance.now();
    } catch (err) {
      const failure = describeError(err);
      if (failure !== this.lastFailure) log.error("self-fence failed: the host's VMs may still run (retried)", { host, error: failure });
      this.lastFailure = failure;
      await this.close();
    }
  }
}
