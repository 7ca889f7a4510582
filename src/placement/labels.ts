import type { LabelSelector } from "./types.ts";

/** Kubernetes semantics: an empty selector matches everything. */
export function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case "In":
        if (!has || !(req.values ?? []).includes(value!)) return false;
        break;
      case "NotIn":
        if (has && (req.values ?? []).includes(value!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    if (r.operator === "Exists") parts.push(r.key);
    else if (r.operator === "DoesNotExist") parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator === "In" ? "in" : "notin"} (${(r.values ?? []).join(",")})`);
  }
  return parts.join(",") || "<all>";
}
