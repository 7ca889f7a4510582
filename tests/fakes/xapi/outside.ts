// FAKE XAPI — what an administrator does with `xe` on the fake pool, outside the driver: make a
// VM with no identity, change its power, move it to another host of the pool, delete it. Used by
// the conformance hooks and the driver's pool scenarios.
import type { PowerState } from "../../../drivers/contract/index.ts";
import type { FakeXapiServer } from "./server.ts";

export class FakeXapiAdmin {
  private readonly fake: FakeXapiServer;

  constructor(fake: FakeXapiServer) {
    this.fake = fake;
  }

  /** `xe vm-install` + `xe vm-start`: a running VM without identity; returns its uuid. */
  createRunningVm(name: string): string {
    const ref = this.fake.vms.create({ name_label: name });
    this.fake.vms.start(ref, false);
    return this.uuid(ref);
  }

  setPower(uuid: string, state: PowerState): void {
    const ref = this.ref(uuid);
    if (ref === undefined) throw new Error(`fake xapi: no VM ${uuid}`);
    const now = this.fake.vms.vm(ref)["power_state"];
    if (state === "Stopped" && now !== "Halted") this.fake.vms.hardShutdown(ref);
    if (state === "Paused" && now === "Running") this.fake.vms.pause(ref);
    if (state === "Running" && now === "Halted") this.fake.vms.start(ref, false);
    if (state === "Running" && now === "Paused") this.fake.vms.unpause(ref);
  }

  /** `xe vm-migrate vm=… host=…` (live, inside the pool); resolves when it runs there. */
  async migrate(uuid: string, host: string): Promise<void> {
    const ref = this.ref(uuid);
    if (ref === undefined) throw new Error(`fake xapi: no VM ${uuid}`);
    await this.fake.vms.poolMigrate(ref, host);
  }

  delete(uuid: string): void {
    const ref = this.ref(uuid);
    if (ref === undefined) return;
    if (this.fake.vms.vm(ref)["power_state"] !== "Halted") this.fake.vms.hardShutdown(ref);
    this.fake.vms.destroy(ref);
  }

  /** Every guest VM whose name starts with prefix, templates included (half-made ones). */
  deletePrefixed(prefix: string): void {
    for (const [ref, vm] of this.fake.db.all("VM")) {
      if (vm["is_control_domain"] === true || vm["is_default_template"] === true) continue;
      if (String(vm["name_label"]).startsWith(prefix)) {
        if (vm["power_state"] !== "Halted") this.fake.vms.hardShutdown(ref);
        this.fake.vms.destroy(ref);
      }
    }
  }

  private ref(uuid: string): string | undefined {
    return this.fake.db.all("VM").find(([, vm]) => vm["uuid"] === uuid)?.[0];
  }

  private uuid(ref: string): string {
    return String(this.fake.vms.vm(ref)["uuid"]);
  }
}
