// The cardinality rule for Omnivisor's metrics (ADR 0035), as a check a test runs on a real
// scrape: no label is named for a VM (vm, uid, external id, address), and no label value is a
// VirtualMachine's name or uid. A VM is counted in series labelled by namespace, host, pool,
// datacenter, driver, phase or reason — sets that grow with the fleet's hosts and tenants, never
// with its VMs.

/** Label names that would carry one value per VM. */
export const perVmLabelNames = ["vm", "virtualmachine", "virtual_machine", "vm_name", "uid", "external_id", "externalid", "ip", "address", "mac", "container", "domain"];

const forbidden = new Set(perVmLabelNames);

export interface Series {
  name: string;
  labels: Record<string, string>;
}

/** The series of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1");
    out.push({ name: m[1]!, labels });
  }
  return out;
}

/** What breaks the rule (empty: nothing). `vms`: every VirtualMachine's name and uid. */
export function perVmLabels(series: readonly Series[], vms: { names: readonly string[]; uids: readonly string[] }): string[] {
  const values = new Set([...vms.names, ...vms.uids]);
  const broken: string[] = [];
  for (const s of series) {
    for (const [label, value] of Object.entries(s.labels)) {
      if (forbidden.has(label.toLowerCase())) broken.push(`${s.name}: label ${label}`);
      else if (values.has(value)) broken.push(`${s.name}: ${label}="${value}" names a VirtualMachine`);
    }
  }
  return [...new Set(broken)];
}
