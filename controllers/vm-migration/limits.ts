// How many moves run at once: per source host (default 2) and in the whole cluster (default 5),
// as KubeVirt limits them. A move counts from the moment it is admitted (this process remembers
// it until the cache shows it Running) until it is finished.
export interface MigrationLimits {
  perHost: number;
  cluster: number;
}

export const defaultLimits: MigrationLimits = { perHost: 2, cluster: 5 };

/** A running move: its key and the host it leaves. */
export interface RunningMove {
  key: string;
  source: string;
}

/** undefined: it may start; else why it waits. */
export function waitsFor(limits: MigrationLimits, running: readonly RunningMove[], key: string, source: string): string | undefined {
  const others = running.filter((m) => m.key !== key);
  if (others.length >= limits.cluster) return `${others.length} migrations are running in the cluster (at most ${limits.cluster} at once)`;
  const fromHost = others.filter((m) => m.source === source).length;
  if (fromHost >= limits.perHost) return `${fromHost} migrations are leaving host ${source} (at most ${limits.perHost} at once per host)`;
  return undefined;
}
