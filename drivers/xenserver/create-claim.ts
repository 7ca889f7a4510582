// One maker per VM across managers. XAPI has no "create if absent": two managers that both believe
// they lead (or a retry overlapping a slow create) would each clone the template and leave two VMs
// with one uid. A claim is a key in the pool's other_config — pool.add_to_other_config fails with
// MAP_DUPLICATE_KEY when the key exists, so exactly one session takes it. The claim is dropped when the
// create ends (made, or failed); a second maker waits for the first (then finds its VM by uid), and
// a claim left by a process that died mid-create is taken over once older than staleAfterMs
// (its age read on this machine's clock against the claimant's: skew between managers shifts it).
import { randomBytes } from "node:crypto";
import { isDriverError, RetryableError, type VmIdentity } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";

export const claimPrefix = "omnivisor-creating-";
/** A claim older than this was left by a process that died mid-create (a create holds it seconds). */
const defaultStaleAfterMs = 60_000;
/** How long take() waits for another manager's create before answering retryable. */
const defaultWaitMs = 75_000;

export class CreateClaims {
  private readonly client: XapiClient;
  /** This session's mark in the claims it takes. */
  private readonly owner = randomBytes(6).toString("hex");
  private readonly staleAfterMs: number;
  private readonly waitMs: number;
  private poolRef: string | undefined;

  constructor(client: XapiClient, staleAfterMs = defaultStaleAfterMs, waitMs = defaultWaitMs) {
    this.client = client;
    this.staleAfterMs = staleAfterMs;
    this.waitMs = waitMs;
  }

  /** Takes the claim on identity's create; returns its release. RetryableError while another holds it. */
  async take(identity: VmIdentity): Promise<() => Promise<void>> {
    const pool = await this.pool();
    const key = `${claimPrefix}${identity.uid}`;
    const value = `${this.owner} ${Date.now()}`;
    const until = performance.now() + this.waitMs;
    for (;;) {
      try {
        await this.client.call(`claim the create of ${identity.name}`, "pool.add_to_other_config", pool, key, value);
        break;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const held = (await this.client.call<Record<string, string>>("read pool other_config", "pool.get_other_config", pool))[key];
      if (held === undefined) continue; // released meanwhile: try again at once
      const since = Number(held.split(" ")[1]);
      if (Date.now() - since > this.staleAfterMs) {
        // left by a process that died mid-create: taken over (what it made is found by uid and finished)
        await this.client.call("drop a stale create claim", "pool.remove_from_other_config", pool, key);
        continue;
      }
      // another manager is making it: wait for it to finish (then its VM is found by uid), a while
      if (performance.now() > until) {
        throw new RetryableError(`xenserver: another manager is creating ${identity.name} (claimed ${Math.round((Date.now() - since) / 1000)} s ago); it is not made twice`, { reason: "create-claimed" });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return async () => {
      const now = (await this.client.call<Record<string, string>>("read pool other_config", "pool.get_other_config", pool))[key];
      if (now === value) await this.client.call("release the create claim", "pool.remove_from_other_config", pool, key);
    };
  }

  private async pool(): Promise<string> {
    this.poolRef ??= (await this.client.call<string[]>("find the pool", "pool.get_all"))[0];
    if (this.poolRef === undefined) throw new RetryableError("xenserver: the host reports no pool", { reason: "no-pool" });
    return this.poolRef;
  }
}

function isDuplicateKey(err: unknown): boolean {
  return isDriverError(err) && err.reason === "map-duplicate-key";
}
