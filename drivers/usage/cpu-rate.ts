// CPUs busy from cumulative CPU counters (libvirt cpu.time, Docker's cpu_usage.total_usage): the
// counter's growth between two samples of one VM ÷ the time between them, in cores. Drivers
// whose hypervisor keeps its own rate (vim25 quickStats, Hyper-V CPUUsage) do not need it.

interface Sample {
  /** CPU time used so far, ns. */
  busyNs: bigint;
  /** When it was read, ns on a clock that only moves forward (or the hypervisor's own clock). */
  atNs: bigint;
}

/** Per-VM previous counters of one session, so each call reports the average since the last. */
export class CpuRates {
  private previous = new Map<string, Sample>();

  /**
   * Cores busy since this VM's previous sample; undefined for its first one, and when the counter
   * went back (the VM restarted, or moved here and back) — that sample starts anew.
   */
  rate(key: string, busyNs: bigint, atNs: bigint = process.hrtime.bigint()): number | undefined {
    const before = this.previous.get(key);
    this.previous.set(key, { busyNs, atNs });
    if (!before || busyNs < before.busyNs || atNs <= before.atNs) return undefined;
    return Number(busyNs - before.busyNs) / Number(atNs - before.atNs);
  }

  /** Drops the samples of VMs that were not in this round (gone, stopped), so none grows without bound. */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const key of this.previous.keys()) if (!keys.has(key)) this.previous.delete(key);
  }
}
