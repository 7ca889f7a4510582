// DRS planner (issue #26): plain data in, a plan out — like placement, it knows nothing of
// Kubernetes objects or drivers. The DRSPolicy controller builds these inputs from its caches and
// the live usage the Host controller records (src/fleet/live-usage.ts).
import type { HostCandidate, PlacementRequest } from "../types.ts";

/** What a VM uses now: CPUs busy (cores, e.g. 0.4) and memory in use. */
export interface Demand {
  cpus: number;
  memoryMiB: number;
}

export interface DrsHost extends HostCandidate {
  /** Undefined: the host can send and receive live migrations. Else why not (e.g. "docker has no live migration"); never a source or target. */
  cannotMigrate?: string;
}

export interface DrsVm {
  /** The VM's placement request as the VM controller builds it (its resources = its allocation, scope, driver, affinity...): a move must satisfy it on the target as a placement would. */
  request: PlacementRequest;
  /** The host it runs on now (one of the input hosts). */
  host: string;
  /** Its own live usage where the driver reports per-VM stats; undefined → its allocation counts (request.vm.resources). */
  demand?: Demand;
  /** Undefined: may move. Else why it must not move now (migrating, failing over, changing power, cooling down after a move, not running, pinned...). */
  cannotMove?: string;
}

/** vSphere's migration threshold: 1 only mandatory moves (rule violations, overcommit), 3 default, 5 any gain. */
export type MigrationThreshold = 1 | 2 | 3 | 4 | 5;

export interface DrsInput {
  /** One pool's hosts (the controller plans pool by pool). */
  hosts: readonly DrsHost[];
  /** The VMs on those hosts. */
  vms: readonly DrsVm[];
  threshold: MigrationThreshold;
  /** At most this many recommendations (a pass's budget); default: no limit. */
  maxMoves?: number;
}

export interface Recommendation {
  vm: { namespace: string; name: string };
  from: string;
  to: string;
  /** 1 mandatory (a rule violation, overcommit) … 5 a slight gain; applied when ≤ the threshold. */
  priority: 1 | 2 | 3 | 4 | 5;
  /** One line a person reads, e.g. "CPU+memory imbalance 0.31 → 0.22" or "anti-affinity with web-2 on host-a". */
  reason: string;
  /** Pool imbalance once this move and every earlier one in the list are made. */
  imbalanceAfter: number;
}

export interface Skipped {
  /** A VM that would have helped but may not move, or a host left out, with why. */
  vm?: { namespace: string; name: string };
  host?: string;
  reason: string;
}

export interface DrsPlan {
  /** The pool's imbalance now (standard deviation of host load, ADR on how CPU and memory combine). */
  imbalance: number;
  /** What the threshold tolerates: no balancing move is proposed while imbalance ≤ this. */
  targetImbalance: number;
  /** Moves whose priority ≤ the threshold, best first; applying them in order is valid at every step. */
  recommendations: Recommendation[];
  skipped: Skipped[];
}
