// Moves as they finish: a VMMigration that reaches Succeeded, Failed or Cancelled is counted once,
// with how long the move took and (live moves that report it) how long the guest was paused.
// Seen as a transition in the leader's cache, so a restart does not count old moves again.
import { Counter, Histogram, type Registry } from "prom-client";
import type { HostObject, VmMigrationObject } from "../fleet/kinds.ts";

const finished = new Set(["Succeeded", "Failed", "Cancelled"]);
const outcomes = [...finished];
const modes = ["Live", "Cold"];

export class MigrationMetrics {
  private readonly total: Counter<"driver" | "mode" | "outcome">;
  private readonly duration: Histogram<"driver" | "mode">;
  private readonly downtime: Histogram<"driver">;
  private readonly zeroed = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.total = new Counter({ name: "omnivisor_migrations_total", help: "VMMigrations that finished, by the source host's driver, mode (Live, Cold) and outcome (Succeeded, Failed, Cancelled).", labelNames: ["driver", "mode", "outcome"], registers });
    this.duration = new Histogram({
      name: "omnivisor_migration_duration_seconds",
      help: "How long a move that succeeded took on the hypervisor (startedAt to completedAt).",
      labelNames: ["driver", "mode"],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
      registers,
    });
    this.downtime = new Histogram({ name: "omnivisor_migration_downtime_seconds", help: "How long the guest was paused at the switch-over of a live move, where the hypervisor reports it.", labelNames: ["driver"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers });
  }

  /** Series at 0 for a driver that has hosts, so the first move is an increase rate() can see. */
  zero(driver: string): void {
    if (this.zeroed.has(driver)) return;
    this.zeroed.add(driver);
    for (const mode of modes) {
      for (const outcome of outcomes) this.total.inc({ driver, mode, outcome }, 0);
      this.duration.zero({ driver, mode });
    }
    this.downtime.zero({ driver });
  }

  /**
   * A VMMigration changed in the cache; counted when it has just finished. A move refused before
   * it started (a driver that cannot move so) records no source host or mode: the VM's host and
   * the mode asked for stand in.
   */
  changed(before: VmMigrationObject, after: VmMigrationObject, world: { host(name: string): HostObject | undefined; vmHost(m: VmMigrationObject): string | undefined }): void {
    const status = after.status ?? {};
    const outcome = status.phase;
    if (!outcome || !finished.has(outcome) || finished.has(before.status?.phase ?? "")) return;
    const driver = world.host(status.sourceHost ?? world.vmHost(after) ?? "")?.spec.driver ?? "unknown";
    const mode = status.mode ?? (after.spec.live === false ? "Cold" : "Live");
    this.total.inc({ driver, mode, outcome });
    if (outcome !== "Succeeded") return;
    const seconds = secondsBetween(status.startedAt, status.completedAt);
    if (seconds !== undefined) this.duration.observe({ driver, mode }, seconds);
    if (status.downtimeMs !== undefined) this.downtime.observe({ driver }, status.downtimeMs / 1000);
  }
}

function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  const a = Date.parse(from ?? "");
  const b = Date.parse(to ?? "");
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : undefined;
}
