// FAKE XAPI — the VM class: lifecycle calls with the power-state rules and error codes the
// XenAPI reference documents (VM_BAD_POWER_STATE [vm; expected; actual], HANDLE_INVALID [class;
// handle], HOST_NOT_ENOUGH_FREE_MEMORY [needed; available], VM_IS_TEMPLATE [vm], ...).
import type { XapiDatabase, XapiRecord } from "./database.ts";
import { dom0MemoryBytes, type FakeHostRefs, vmDefaults } from "./host.ts";

/** An XAPI error: code plus parameters, as JSON-RPC `error.message` and `error.data`. */
export class XapiFault extends Error {
  readonly code: string;
  readonly params: string[];

  constructor(code: string, params: string[] = []) {
    super(`${code}(${params.join(", ")})`);
    this.code = code;
    this.params = params;
  }
}

type PowerState = "Halted" | "Running" | "Paused" | "Suspended";

/** How long a guest takes to shut down after clean_shutdown (it always obeys). */
const guestShutdownMs = 50;

export class FakeVms {
  private readonly db: XapiDatabase;
  private readonly refs: FakeHostRefs;
  private readonly memoryTotal: number;
  /** Guests that ignore clean_shutdown (no PV tools answering): the call waits until something else halts the VM. */
  guestsIgnoreShutdown = false;

  constructor(db: XapiDatabase, refs: FakeHostRefs, memoryTotal: number) {
    this.db = db;
    this.refs = refs;
    this.memoryTotal = memoryTotal;
  }

  /** The VM record of ref; HANDLE_INVALID when ref is no VM. */
  vm(ref: unknown): XapiRecord {
    const record = typeof ref === "string" ? this.db.get("VM", ref) : undefined;
    if (record === undefined) throw new XapiFault("HANDLE_INVALID", ["VM", String(ref)]);
    return record;
  }

  /** A new halted VM (as the hypervisor's own tools would make it: no identity). */
  create(fields: XapiRecord): string {
    return this.db.add("VM", vmDefaults(fields));
  }

  clone(ref: unknown, name: unknown): string {
    const source = this.vm(ref);
    this.expectPower(ref, source, "Halted");
    return this.db.add("VM", { ...structuredClone(source), uuid: undefined, name_label: String(name), other_config: { ...(source["other_config"] as object) } });
  }

  provision(ref: unknown): void {
    const vm = this.vm(ref);
    // As XAPI's provision: "install time" un-templates the VM (the fake creates no disks).
    this.db.update(ref as string, { is_a_template: false, other_config: { ...(vm["other_config"] as object), "install-time": new Date().toISOString() } });
  }

  start(ref: unknown, startPaused: boolean): void {
    const vm = this.vm(ref);
    if (vm["is_a_template"] === true) throw new XapiFault("VM_IS_TEMPLATE", [String(ref)]);
    this.expectPower(ref, vm, "Halted");
    const needed = Number(vm["memory_static_max"]);
    const available = this.freeMemory();
    if (needed > available) throw new XapiFault("HOST_NOT_ENOUGH_FREE_MEMORY", [String(needed), String(available)]);
    this.setPower(ref as string, startPaused ? "Paused" : "Running");
  }

  cleanShutdown(ref: unknown): Promise<void> {
    this.expectPower(ref, this.vm(ref), "Running");
    if (this.guestsIgnoreShutdown) return this.untilHalted(ref as string);
    // The guest takes a moment to shut down; the call returns when it has (XAPI's is synchronous).
    return new Promise((resolve) =>
      setTimeout(() => {
        if (this.db.get("VM", ref as string)?.["power_state"] === "Running") this.setPower(ref as string, "Halted");
        resolve();
      }, guestShutdownMs),
    );
  }

  private untilHalted(ref: string): Promise<void> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (this.db.get("VM", ref)?.["power_state"] !== "Running") {
          clearInterval(timer);
          resolve();
        }
      }, 20);
      timer.unref();
    });
  }

  hardShutdown(ref: unknown): void {
    const vm = this.vm(ref);
    if (vm["power_state"] === "Halted") throw new XapiFault("VM_BAD_POWER_STATE", [String(ref), "running", "halted"]);
    this.setPower(ref as string, "Halted");
  }

  pause(ref: unknown): void {
    this.expectPower(ref, this.vm(ref), "Running");
    this.setPower(ref as string, "Paused");
  }

  unpause(ref: unknown): void {
    this.expectPower(ref, this.vm(ref), "Paused");
    this.setPower(ref as string, "Running");
  }

  destroy(ref: unknown): void {
    const vm = this.vm(ref);
    if (vm["power_state"] !== "Halted" && vm["power_state"] !== "Suspended") {
      throw new XapiFault("VM_BAD_POWER_STATE", [String(ref), "halted", lower(vm["power_state"])]);
    }
    this.db.remove(ref as string);
  }

  /** set_VCPUs_max and set_memory_limits need a halted VM, as on a real host. */
  setHalted(ref: unknown, patch: XapiRecord): void {
    this.expectPower(ref, this.vm(ref), "Halted");
    this.db.update(ref as string, patch);
  }

  set(ref: unknown, patch: XapiRecord): void {
    this.vm(ref);
    this.db.update(ref as string, patch);
  }

  addToOtherConfig(ref: unknown, key: unknown, value: unknown): void {
    const config = { ...(this.vm(ref)["other_config"] as Record<string, string>) };
    if (String(key) in config) throw new XapiFault("MAP_DUPLICATE_KEY", ["VM", "other_config", String(ref), String(key)]);
    config[String(key)] = String(value);
    this.db.update(ref as string, { other_config: config });
  }

  removeFromOtherConfig(ref: unknown, key: unknown): void {
    const config = { ...(this.vm(ref)["other_config"] as Record<string, string>) };
    delete config[String(key)];
    this.db.update(ref as string, { other_config: config });
  }

  /** Memory left for guests: total minus dom0 minus every running or paused VM. */
  freeMemory(): number {
    let used = dom0MemoryBytes;
    for (const [ref, vm] of this.db.all("VM")) {
      if (ref === this.refs.dom0) continue;
      if (vm["power_state"] === "Running" || vm["power_state"] === "Paused") used += Number(vm["memory_static_max"]);
    }
    return this.memoryTotal - used;
  }

  private expectPower(ref: unknown, vm: XapiRecord, expected: PowerState): void {
    if (vm["power_state"] !== expected) throw new XapiFault("VM_BAD_POWER_STATE", [String(ref), lower(expected), lower(vm["power_state"])]);
  }

  private setPower(ref: string, state: PowerState): void {
    const running = state === "Running" || state === "Paused";
    this.db.update(ref, { power_state: state, resident_on: running ? this.refs.host : "OpaqueRef:NULL", domid: running ? 1 + Math.floor(Math.random() * 1000) : -1 });
    const metrics = this.refs.metrics;
    this.db.update(metrics, { memory_free: this.freeMemory() });
  }
}

function lower(value: unknown): string {
  return String(value).toLowerCase();
}
