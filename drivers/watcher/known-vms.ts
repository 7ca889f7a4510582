// The watcher's memory of a host's VMs: kept current from events, and compared with a fresh list
// after a reconnect to produce the events that were missed while the connection was down.
import type { ObservedPower, VmEvent, VmEventType, VmIdentity, VmObservation } from "../contract/index.ts";

export interface KnownVm {
  externalId: string;
  name: string;
  power: ObservedPower;
  identity?: VmIdentity;
}

const powerAfter: Partial<Record<VmEventType, ObservedPower>> = {
  started: "Running",
  resumed: "Running",
  stopped: "Stopped",
  paused: "Paused",
  crashed: "Crashed",
};

export class KnownVms {
  private readonly vms = new Map<string, KnownVm>();

  get size(): number {
    return this.vms.size;
  }

  get(externalId: string): KnownVm | undefined {
    return this.vms.get(externalId);
  }

  all(): KnownVm[] {
    return [...this.vms.values()];
  }

  /** Follows one event from the hypervisor. */
  apply(event: VmEvent): void {
    if (event.type === "deleted" || event.type === "migrated") {
      this.vms.delete(event.externalId);
      return;
    }
    const known = this.vms.get(event.externalId) ?? { externalId: event.externalId, name: event.name ?? "", power: "Stopped" };
    known.power = powerAfter[event.type] ?? known.power;
    if (event.identity !== undefined) known.identity = event.identity;
    this.vms.set(event.externalId, known);
  }

  /**
   * Replaces what is known with a fresh list and returns the changes in between as events
   * (detail "missed while disconnected"): VMs that appeared, vanished or changed power.
   */
  replace(vms: VmObservation[], at: Date = new Date()): VmEvent[] {
    const missed: VmEvent[] = [];
    const seen = new Set<string>();
    for (const vm of vms) {
      seen.add(vm.externalId);
      const before = this.vms.get(vm.externalId);
      if (before === undefined) missed.push(missedEvent("defined", vm, at));
      const powerBefore = before?.power ?? "Stopped";
      const type = transition(powerBefore, vm.power);
      if (type !== undefined) missed.push(missedEvent(type, vm, at));
    }
    for (const gone of this.vms.values()) {
      if (!seen.has(gone.externalId)) missed.push(missedEvent("deleted", gone, at));
    }
    this.vms.clear();
    for (const vm of vms) {
      const known: KnownVm = { externalId: vm.externalId, name: vm.name, power: vm.power };
      if (vm.identity !== undefined) known.identity = vm.identity;
      this.vms.set(vm.externalId, known);
    }
    return missed;
  }
}

/** The event that takes a VM from one observed power state to another. */
export function transition(from: ObservedPower, to: ObservedPower): VmEventType | undefined {
  if (from === to || to === "Unknown") return undefined;
  switch (to) {
    case "Running":
      return from === "Paused" ? "resumed" : "started";
    case "Stopped":
      return "stopped";
    case "Paused":
      return "paused";
    case "Crashed":
      return "crashed";
  }
}

function missedEvent(type: VmEventType, vm: KnownVm, at: Date): VmEvent {
  const event: VmEvent = { type, externalId: vm.externalId, name: vm.name, at, detail: "missed while disconnected" };
  if (vm.identity !== undefined) event.identity = vm.identity;
  return event;
}
