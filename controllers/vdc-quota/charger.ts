// Charging a namespace's VDCQuotas at admission, exactly under concurrency, the way
// kube-apiserver's ResourceQuota admission does: requests for one namespace wait together and are
// settled as a batch — each quota's ledger is read, every request that still fits is charged in
// order, and the ledger is written with one update that carries the resourceVersion it was read
// at. A conflict (another replica, the recount) re-reads that quota and settles the batch again.
// A request is answered only once its charge is on the server.
import type { VDCQuota } from "../../src/api/index.ts";
import { describeError, statusCode, type Logger } from "../../src/runtime/log.ts";
import { admit, type ChargeRequest, type Ledger } from "./ledger.ts";

/** Where quotas are read and their ledgers written. */
export interface QuotaStore {
  /** The namespace's quotas as last known (cache, or this process's own newer write). */
  list(namespace: string): VDCQuota[];
  /** One quota as the server has it now (undefined: deleted). */
  read(namespace: string, name: string): Promise<VDCQuota | undefined>;
  /** Replaces the ledger of `quota` if it is still at quota's resourceVersion (409 otherwise). */
  writeLedger(quota: VDCQuota, ledger: Ledger): Promise<VDCQuota>;
}

interface Waiter {
  request: ChargeRequest;
  resolve(refusal: string | undefined): void;
  reject(err: unknown): void;
}

const maxConflicts = 20;

export class Charger {
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly store: QuotaStore;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(store: QuotaStore, log: Logger, now: () => Date = () => new Date()) {
    this.store = store;
    this.log = log;
    this.now = now;
  }

  /** Charges the request on every quota of its namespace; resolves with why it was refused, or undefined once charged. */
  charge(request: ChargeRequest): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(request.namespace);
      if (queue) return void queue.push({ request, resolve, reject });
      this.waiting.set(request.namespace, [{ request, resolve, reject }]);
      void this.drain(request.namespace);
    });
  }

  /** What a dry run would answer: the same check, nothing written. */
  check(request: ChargeRequest): string | undefined {
    for (const quota of this.store.list(request.namespace)) {
      const why = admit(quota, [request], this.now()).refusals[0];
      if (why) return why;
    }
    return undefined;
  }

  /** Settles the namespace's waiting requests batch after batch; requests arriving meanwhile form the next batch. */
  private async drain(namespace: string): Promise<void> {
    for (;;) {
      const batch = this.waiting.get(namespace) ?? [];
      if (batch.length === 0) {
        this.waiting.delete(namespace);
        return;
      }
      this.waiting.set(namespace, []);
      try {
        const started = performance.now();
        const refusals = await this.settle(namespace, batch.map((w) => w.request));
        this.log.debug("charge batch settled", { namespace, requests: batch.length, ms: Math.round(performance.now() - started) });
        batch.forEach((w, i) => w.resolve(refusals[i]));
      } catch (err) {
        this.log.warn("could not charge the namespace's quotas", { namespace, requests: batch.length, error: describeError(err) });
        for (const w of batch) w.reject(err);
      }
    }
  }

  private async settle(namespace: string, requests: ChargeRequest[]): Promise<(string | undefined)[]> {
    const refusals: (string | undefined)[] = requests.map(() => undefined);
    const quotas = this.store.list(namespace).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const open = (): number[] => requests.map((_, i) => i).filter((i) => refusals[i] === undefined);
    const refuse = (indexes: number[], answers: (string | undefined)[]): void => answers.forEach((why, j) => void (why && (refusals[indexes[j]!] = why)));
    // Every quota must admit a request: a first look at all of them, so none is charged for a
    // request another refuses. (A quota that changes between this look and its write can still
    // refuse one the earlier quotas charged: that charge is released by the recount.)
    for (const quota of quotas) {
      const indexes = open();
      refuse(indexes, admit(quota, indexes.map((i) => requests[i]!), this.now()).refusals);
    }
    for (let quota of quotas) {
      for (let conflicts = 0; ; conflicts++) {
        const indexes = open();
        if (indexes.length === 0) return refusals;
        const outcome = admit(quota, indexes.map((i) => requests[i]!), this.now());
        // refusals count only once the ledger they were judged on is the one written
        if (outcome.refusals.every((r) => r !== undefined)) {
          refuse(indexes, outcome.refusals);
          break;
        }
        try {
          await this.store.writeLedger(quota, outcome.ledger);
          refuse(indexes, outcome.refusals);
          break;
        } catch (err) {
          if (statusCode(err) !== 409 || conflicts >= maxConflicts) throw err;
          this.log.debug("quota changed meanwhile; reading it again", { quota: quota.metadata.name, conflicts: conflicts + 1 });
          const fresh = await this.store.read(namespace, quota.metadata.name);
          if (!fresh) break; // deleted meanwhile: it limits nothing any more
          quota = fresh;
        }
      }
    }
    return refusals;
  }
}
