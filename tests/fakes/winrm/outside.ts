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

  deletePrefixed(prefix: string): void {
    for (const [id, vm] of this.fake.hyperv.vms) if (vm.Name.startsWith(prefix)) this.fake.hyperv.vms.delete(id);
  }
}
