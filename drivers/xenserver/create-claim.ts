// One maker per VM across managers. XAPI has no "create if absent": two managers that both believe
// they lead (or a retry overlapping a slow create) would each clone the template and leave two VMs
// with one uid. A claim is a key in the pool's other_config — pool.add_to_other_config fails with
// MAP_DUPLICATE_KEY when the key exists, so exactly one session takes it; the others get a
// retryable error and, retrying, find the claimant's VM by uid. The claim is dropped when the
// create ends (made, or failed); one left by a process that died before cloning is taken over once
// it is older than staleAfterMs (compared on this machine's clock against the claimant's: minutes
// apart, not seconds, so clock skew between managers does not matter).
import { randomBytes } from "node:crypto";
import { isDriverError, RetryableError, type VmIdentity } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";

export const claimPrefix = "omnivisor-creating-";
const defaultStaleAfterMs = 5 * 60_000;

export class CreateClaims {
  private readonly client: XapiClient;
  /** This session's mark in the claims it takes. */
  private readonly owner = randomBytes(6).toString("hex");
  private readonly staleAfterMs: number;
  private poolRef: string | undefined;

  constructor(client: XapiClient, staleAfterMs = defaultStaleAfterMs) {
    this.client = client;
    this.staleAfterMs = staleAfterMs;
  }

  /** Takes the claim on identity's create; returns its release. RetryableError while another holds it. */
  async take(identity: VmIdentity): Promise<() => Promise<void>> {
    const pool = await this.pool();
    const key = `${claimPrefix}${identity.uid}`;
    const value = `${this.owner} ${Date.now()}`;
    try {
      await this.client.call(`claim the create of ${identity.name}`, "pool.add_to_other_config", pool, key, value);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const held = (await this.client.call<Record<string, string>>("read pool other_config", "pool.get_other_config", pool))[key];
      const since = Number(held?.split(" ")[1]);
      if (held !== undefined && !(Date.now() - since > this.staleAfterMs)) {
        throw new RetryableError(`xenserver: another manager is creating ${identity.name} (claimed ${Math.round((Date.now() - since) / 1000)} s ago); it is not made twice`, { reason: "create-claimed" });
      }
      // released meanwhile, or left by a process that died: take it over
      await this.client.call("drop a stale create claim", "pool.remove_from_other_config", pool, key);
      await this.client.call(`claim the create of ${identity.name}`, "pool.add_to_other_config", pool, key, value);
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
