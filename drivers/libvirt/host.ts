// observeHost: capacity from NODE_GET_INFO, live usage from the node's CPU and memory counters,
// VM counts from filtered domain lists, storage from the host's storage pool (STORAGE_POOL_GET_INFO:
// the pool's capacity as libvirt sees it on the host, not any filesystem of the manager).
import type { HostObservation } from "../contract/index.ts";
import { isVirError, VirErr } from "./errors.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";
import type { HostStorage } from "./volumes.ts";

/** virConnectListAllDomainsFlags */
const List = { Running: 16, Paused: 32 } as const;

export interface HostFacts {
  hypervisor: string;
  version: string;
  /** The pool VM disks live in; its capacity is the host's storage. Absent for simulated hosts. */
  storage?: HostStorage;
  /** Previous CPU counter sample, for a usage figure over the time between two observations. */
  lastCpu?: { busy: bigint; total: bigint };
}

async function cpuSample(remote: LibvirtRemote): Promise<{ busy: bigint; total: bigint }> {
  const s = await remote.nodeGetCpuStats();
  const busy = (s.get("kernel") ?? 0n) + (s.get("user") ?? 0n);
  return { busy, total: busy + (s.get("idle") ?? 0n) + (s.get("iowait") ?? 0n) };
}

async function usage(remote: LibvirtRemote, facts: HostFacts): Promise<HostObservation["usage"]> {
  try {
    let before = facts.lastCpu;
    if (!before) {
      before = await cpuSample(remote);
      await new Promise((r) => setTimeout(r, 200));
    }
    const now = await cpuSample(remote);
    facts.lastCpu = now;
    const total = Number(now.total - before.total);
    const cpuPercent = total > 0 ? Math.min(100, Math.max(0, (Number(now.busy - before.busy) / total) * 100)) : 0;
    const m = await remote.nodeGetMemoryStats();
    const usedKiB = (m.get("total") ?? 0n) - (m.get("free") ?? 0n) - (m.get("buffers") ?? 0n) - (m.get("cached") ?? 0n);
    return { cpuPercent: Math.round(cpuPercent * 10) / 10, memoryUsedMiB: Math.max(0, Math.round(Number(usedKiB) / 1024)) };
  } catch (err) {
    // The test driver has no node counters: usage is then simply not reported.
    if (isVirError(err, VirErr.NO_SUPPORT) || isVirError(err, VirErr.OPERATION_UNSUPPORTED)) return undefined;
    throw err;
  }
}

/** The pool's capacity; undefined when it cannot be had (observeHost reports reachability first). */
async function storageGiB(storage: HostStorage | undefined): Promise<number | undefined> {
  if (!storage) return undefined;
  try {
    return Number((await storage.info()).capacity / 2n ** 30n);
  } catch {
    return undefined;
  }
}

export async function observeHost(remote: LibvirtRemote, facts: HostFacts): Promise<HostObservation> {
  const [info, all, running, paused, use, storage] = await Promise.all([
    remote.nodeGetInfo(),
    remote.listAllDomains(),
    remote.listAllDomains(List.Running),
    remote.listAllDomains(List.Paused),
    usage(remote, facts),
    storageGiB(facts.storage),
  ]);
  const capacity: HostObservation["capacity"] = { cpus: info.cpus, memoryMiB: Math.floor(Number(info.memoryKiB) / 1024) };
  if (storage !== undefined) capacity.storageGiB = storage;
  const observation: HostObservation = {
    reachable: true,
    hypervisor: facts.hypervisor,
    version: facts.version,
    capacity,
    vms: { total: all.length, running: running.length, paused: paused.length, stopped: all.length - running.length - paused.length },
  };
  if (use) observation.usage = use;
  return observation;
}
