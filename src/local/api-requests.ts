// The API server's own request counters (apiserver_request_total from its /metrics): how many
// writes a process made, by group, resource and verb. Used by the benchmarks and the idle-fleet
// scenario to show that an operator at rest writes nothing.

export const writeVerbs: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION", "CREATE", "UPDATE"]);

export interface RequestCounts {
  all: number;
  /** Write requests by "group resource[/subresource] VERB" (group "core" for the core API). */
  writes: Record<string, number>;
}

/** Sums apiserver_request_total from a /metrics text. */
export function requestCounts(metricsText: string): RequestCounts {
  let all = 0;
  const writes: Record<string, number> = {};
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const n = Number(line.slice(line.lastIndexOf(" ") + 1));
    all += n;
    const label = (name: string): string | undefined => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1];
    const verb = label("verb");
    if (!verb || !writeVerbs.has(verb)) continue;
    const sub = label("subresource");
    const key = `${label("group") || "core"} ${label("resource") ?? "?"}${sub ? `/${sub}` : ""} ${verb}`;
    writes[key] = (writes[key] ?? 0) + n;
  }
  return { all, writes };
}

/** What grew between two counts (only the keys that did). */
export function writesBetween(before: RequestCounts, after: RequestCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.writes)) if (v - (before.writes[k] ?? 0) > 0) out[k] = v - (before.writes[k] ?? 0);
  return out;
}

/** The part of writes made to one API group ("omnivisor.io"), summed. */
export function writesTo(group: string, writes: Record<string, number>): number {
  return Object.entries(writes)
    .filter(([k]) => k.startsWith(`${group} `))
    .reduce((n, [, v]) => n + v, 0);
}
