// FAKE WinRM — what an administrator does in Hyper-V Manager on the fake host, outside the
// driver: make a VM without identity, change its power, delete it. Used by the conformance hooks.
import type { PowerState } from "../../../drivers/contract/index.ts";
import { VMState } from "./hyperv.ts";
import type { FakeWinrmServer } from "./server.ts";

export class FakeHyperVAdmin {
  private readonly fake: FakeWinrmServer;

  constructor(fake: FakeWinrmServer) {
    this.fake = fake;
  }

  createRunningVm(name: string): string {
    return this.fake.hyperv.addVm(name, VMState.Running).Id;
  }

  setPower(id: string, state: PowerState): void {
    const vm = this.fake.hyperv.vms.get(id);
    if (vm === undefined) throw new Error(`fake hyper-v: no VM ${id}`);
    vm.State = { Running: VMState.Running, Stopped: VMState.Off, Paused: VMState.Paused }[state];
  }

  delete(id: string): void {
    this.fake.hyperv.vms.delete(id);
  }

  /** Removes the VMs named with prefix and their disk files. */
  deletePrefixed(prefix: string): void {
    for (const [id, vm] of this.fake.hyperv.vms) {
      if (!vm.Name.startsWith(prefix)) continue;
      for (const path of vm.HardDrives) this.fake.hyperv.files.delete(path.toLowerCase());
      this.fake.hyperv.vms.delete(id);
    }
  }

  /** An image VHDX in the driver's default image store (`<VirtualHardDiskPath>\\images`). */
  addImage(name: string, sizeBytes: number): string {
    const path = `${this.fake.hyperv.virtualHardDiskPath}\\images\\${name}.vhdx`;
    this.fake.hyperv.files.set(path.toLowerCase(), { sizeBytes, parentPath: null });
    return path;
  }
}
