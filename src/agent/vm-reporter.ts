// Reports what a host's events say about VMs into their status, at once: powerState and phase,
// by a merge patch on the status subresource under its own field manager. The write also wakes
// the VirtualMachine controller (it is not the controller's own), which then restores the
// desired power state; the controller's next apply owns the fields again.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import type { ObservedPower, VmEvent, VmObservation } from "../../drivers/contract/index.ts";
import type { VmObject } from "../fleet/kinds.ts";
import { phaseOf, statusPower } from "../fleet/vm-phase.ts";
import type { Informer } from "../runtime/informer.ts";
import { describeError, statusCode, type Logger } from "../runtime/log.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
export const watcherFieldManager = "omnivisor-status-watcher";

const powerAfter: Partial<Record<VmEvent["type"], ObservedPower>> = {
  started: "Running",
  resumed: "Running",
  stopped: "Stopped",
  crashed: "Crashed",
  paused: "Paused",
  deleted: "Unknown",
};

/**
 * A VM whose move has started (its controller says Migrating=True): when it leaves this host it
 * has gone to the move's target, not away — drivers that learn of a move only by the VM missing
 * from their list (Hyper-V, XenServer, polled) would otherwise report it Unknown mid-move.
 */
export function beingMoved(vm: VmObject): boolean {
  return vm.status?.conditions?.some((c) => c.type === "Migrating" && c.status === "True") ?? false;
}

export class VmReporter {
  private readonly api: CustomObjectsApi;
  private readonly vms: Informer<VmObject>;
  private readonly host: string;
  private readonly log: Logger;
  patches = 0;

  constructor(kc: KubeConfig, vms: Informer<VmObject>, host: string, log: Logger) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.vms = vms;
    this.host = host;
    this.log = log;
  }

  /** The VirtualMachine an event or observation is about: by uid, else by external id on this host. */
  private find(uid: string | undefined, externalId: string): VmObject | undefined {
    const onHost = this.vms.list().filter((vm) => vm.status?.host === this.host);
    return onHost.find((vm) => uid !== undefined && vm.metadata.uid === uid) ?? onHost.find((vm) => vm.status?.externalId === externalId);
  }

  async event(event: VmEvent): Promise<void> {
    const power = powerAfter[event.type];
    if (power === undefined) return;
    const vm = this.find(event.identity?.uid, event.externalId);
    if (vm && !(power === "Unknown" && beingMoved(vm))) await this.report(vm, power);
  }

  /**
   * After a (re)connect: anything whose recorded power differs from the list is reported, and so
   * is a VM of this host that was made (it has an external id) but is not in the list — gone while
   * no one watched, or not at the host's new endpoint. Its Unknown wakes the controller, which
   * looks for it and decides (make it again, or wait for the user at a new endpoint).
   */
  async resync(observed: readonly VmObservation[]): Promise<void> {
    const listed = new Set<string | undefined>();
    for (const o of observed) {
      const vm = this.find(o.identity?.uid, o.externalId);
      if (!vm) continue;
      listed.add(vm.metadata.uid);
      await this.report(vm, o.power);
    }
    for (const vm of this.vms.list()) {
      if (vm.status?.host !== this.host || vm.status.externalId === undefined || listed.has(vm.metadata.uid)) continue;
      if (vm.metadata.deletionTimestamp !== undefined) continue; // its controller is removing it
      if (beingMoved(vm)) continue; // gone to its move's target; its controller records it there
      await this.report(vm, "Unknown");
    }
  }

  private async report(vm: VmObject, power: ObservedPower): Promise<void> {
    const powerState = statusPower(power);
    const phase = powerState === "Unknown" ? "Unknown" : phaseOf(vm.spec.powerState ?? "Running", power);
    if (vm.status?.powerState === powerState && vm.status.phase === phase) return;
    const { name, namespace } = vm.metadata;
    try {
      await this.api.patchNamespacedCustomObjectStatus(
        { group: "omnivisor.io", version: "v1alpha1", plural: "virtualmachines", namespace: namespace ?? "", name, body: { status: { powerState, phase } }, fieldManager: watcherFieldManager },
        mergePatch,
      );
      this.patches++;
      this.log.info("reported VM state", { vm: `${namespace}/${name}`, powerState, phase });
    } catch (err) {
      if (statusCode(err) === 404) return;
      this.log.warn("reporting VM state failed", { vm: `${namespace}/${name}`, error: describeError(err) });
    }
  }
}
