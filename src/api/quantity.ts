// Kubernetes quantities ("512Mi", "4Gi", "1.5G", 1073741824) as the MiB / GiB the drivers and
// placement count in, and back. Status always writes whole Mi / Gi, so a re-read compares equal.
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Bytes of a quantity; undefined when absent, NaN when malformed. */
export function quantityBytes(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === "number") return q;
  const m = /^\+?([0-9]*\.?[0-9]+)([eE][-+]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$/.exec(q.trim());
  if (!m) return Number.NaN;
  const value = Number(m[1]);
  const suffix = m[2] ?? "";
  if (/^[eE]/.test(suffix)) return value * 10 ** Number(suffix.slice(1));
  return value * (binary[suffix] ?? decimal[suffix] ?? Number.NaN);
}

export function toMiB(q: string | number | undefined): number {
  const bytes = quantityBytes(q);
  return bytes === undefined || Number.isNaN(bytes) ? 0 : Math.ceil(bytes / 2 ** 20);
}

export function toGiB(q: string | number | undefined): number {
  const bytes = quantityBytes(q);
  return bytes === undefined || Number.isNaN(bytes) ? 0 : Math.ceil(bytes / 2 ** 30);
}

/** "64Gi" when whole GiB, else "1536Mi". */
export function formatMiB(mib: number): string {
  const whole = Math.round(mib);
  return whole % 1024 === 0 && whole !== 0 ? `${whole / 1024}Gi` : `${whole}Mi`;
}

export function formatGiB(gib: number): string {
  return `${Math.round(gib)}Gi`;
}
