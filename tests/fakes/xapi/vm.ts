// FAKE XAPI — the VM class: lifecycle calls with the power-state rules and error codes the
// XenAPI reference documents (VM_BAD_POWER_STATE [vm; expected; actual], HANDLE_INVALID [class;
// handle], HOST_NOT_ENOUGH_FREE_MEMORY [needed; available], VM_IS_TEMPLATE [vm], ...). Placement
// in the pool as the reference describes it: a running or paused VM is resident_on one host
// (NULL once halted); VM.start takes the VM's affinity as a hint — that host when it has the
// memory, else another that has — while VM.start_on starts it on the host named or fails;
// VM.pool_migrate moves a running VM's residence. Each host has its own memory.
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

/** What an Async.* call's work sees of its task (./server.ts). */
export interface FakeTask {
  ref: string;
  /** Sets the task's progress, 0..1. */
  progress(p: number): void;
  /** task.cancel was called: stop at the next step. */
  readonly cancelling: boolean;
}

/** A pool migration's steps: progress moves at each, a cancel is honoured between them. */
const migrationSteps = 10;

/** How long a guest takes to shut down after clean_shutdown (it always obeys). */
const guestShutdownMs = 50;

export class FakeVms {
  private readonly db: XapiDatabase;
  private readonly refs: FakeHostRefs;
  /** Each host's memory, dom0's share included. */
  private readonly memoryTotal: number;
  /** Guests that ignore clean_shutdown (no PV tools answering): the call waits until something else halts the VM. */
  guestsIgnoreShutdown = false;
  /** How long VM.pool_migrate takes: long enough to see its progress, short enough for tests. */
  migrationMs = 400;
  private nextAddress = 0;

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
    const ref = this.db.add("VM", vmDefaults(fields));
    this.db.update(ref, { metrics: this.db.add("VM_metrics", haltedMetrics()) });
    return ref;
  }

  clone(ref: unknown, name: unknown): string {
    const source = this.vm(ref);
    this.expectPower(ref, source, "Halted");
    const metrics = this.db.add("VM_metrics", haltedMetrics());
    return this.db.add("VM", { ...structuredClone(source), uuid: undefined, name_label: String(name), other_config: { ...(source["other_config"] as object) }, metrics });
  }

  /**
   * As XAPI's provision: creates the disks the VM's other_config "disks" XML describes
   * (`<provision><disk device="0" size="…" sr="" bootable="true" type="system"/></provision>`)
   * on the default SR, and un-templates the VM ("install time").
   */
  provision(ref: unknown): void {
    const vm = this.vm(ref);
    const xml = String((vm["other_config"] as Record<string, string>)["disks"] ?? "");
    const vbds = [...(vm["VBDs"] as string[])];
    for (const m of xml.matchAll(/<disk\b([^>]*)\/>/g)) {
      const attr = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(m[1] ?? "")?.[1] ?? "";
      const vdi = this.db.add("VDI", { name_label: `${String(vm["name_label"])} ${attr("device")}`, virtual_size: Number(attr("size")), SR: this.refs.sr, type: attr("type") || "user", VBDs: [] });
      const vbd = this.db.add("VBD", { VM: ref, VDI: vdi, type: "Disk", userdevice: attr("device"), bootable: attr("bootable") === "true", mode: "RW" });
      this.db.update(vdi, { VBDs: [vbd] });
      vbds.push(vbd);
    }
    this.db.update(ref as string, { is_a_template: false, VBDs: vbds });
  }

  createVif(record: XapiRecord): string {
    const vm = this.vm(record["VM"]);
    if (this.db.get("network", String(record["network"])) === undefined) throw new XapiFault("HANDLE_INVALID", ["network", String(record["network"])]);
    const vif = this.db.add("VIF", { device: String(record["device"]), network: record["network"], VM: record["VM"], MAC: record["MAC"] || "aa:bb:cc:00:00:01", MTU: Number(record["MTU"] ?? 1500) });
    this.db.update(String(record["VM"]), { VIFs: [...(vm["VIFs"] as string[]), vif] });
    return vif;
  }

  destroyVdi(ref: unknown): void {
    const vdi = typeof ref === "string" ? this.db.get("VDI", ref) : undefined;
    if (vdi === undefined) throw new XapiFault("HANDLE_INVALID", ["VDI", String(ref)]);
    this.db.remove(ref as string);
  }

  /** VM.start: on the affinity host when it has the memory, else on the first host that has (the master first). */
  start(ref: unknown, startPaused: boolean): void {
    const vm = this.vm(ref);
    if (vm["is_a_template"] === true) throw new XapiFault("VM_IS_TEMPLATE", [String(ref)]);
    this.expectPower(ref, vm, "Halted");
    const needed = Number(vm["memory_static_max"]);
    const affinity = String(vm["affinity"]);
    const hosts = this.hosts();
    const ranked = hosts.includes(affinity) ? [affinity, ...hosts.filter((h) => h !== affinity)] : hosts;
    // No host has room: XAPI tries the first again without its memory check, and the start fails there.
    const host = ranked.find((h) => this.freeMemory(h) >= needed) ?? ranked[0]!;
    this.startOn(ref, host, startPaused);
  }

  /** VM.start_on: on that host, or not at all. */
  startOn(ref: unknown, host: unknown, startPaused: boolean): void {
    const vm = this.vm(ref);
    const target = this.host(host);
    if (vm["is_a_template"] === true) throw new XapiFault("VM_IS_TEMPLATE", [String(ref)]);
    this.expectPower(ref, vm, "Halted");
    const needed = Number(vm["memory_static_max"]);
    const available = this.freeMemory(target);
    if (needed > available) throw new XapiFault("HOST_NOT_ENOUGH_FREE_MEMORY", [String(needed), String(available)]);
    this.setPower(ref as string, startPaused ? "Paused" : "Running", target);
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
    // VM.destroy takes the VM's VBDs and VIFs with it; its VDIs stay (the caller destroys them).
    for (const vbd of vm["VBDs"] as string[]) this.db.remove(vbd);
    for (const vif of vm["VIFs"] as string[]) this.db.remove(vif);
    if (typeof vm["metrics"] === "string") this.db.remove(vm["metrics"]);
    this.db.remove(ref as string);
  }

  /**
   * Live migration inside the pool: the VM keeps running, on the other host. While it moves, the
   * VM's current_operations names the task (XAPI's way to find what a VM is busy with), another
   * operation on it is OTHER_OPERATION_IN_PROGRESS, and a cancel leaves it where it was.
   */
  async poolMigrate(ref: unknown, host: unknown, task?: FakeTask): Promise<void> {
    const vm = this.vm(ref);
    const target = this.host(host);
    if (vm["power_state"] !== "Running") throw new XapiFault("VM_BAD_POWER_STATE", [String(ref), "running", lower(vm["power_state"])]);
    const busy = Object.keys(vm["current_operations"] as Record<string, string>);
    if (busy.length > 0) throw new XapiFault("OTHER_OPERATION_IN_PROGRESS", ["VM", String(ref), busy[0]!]);
    const needed = Number(vm["memory_static_max"]);
    if (vm["resident_on"] !== target && needed > this.freeMemory(target)) throw new XapiFault("HOST_NOT_ENOUGH_FREE_MEMORY", [String(needed), String(this.freeMemory(target))]);
    const operation = task?.ref ?? this.db.newRef();
    this.db.update(ref as string, { current_operations: { [operation]: "pool_migrate" } });
    try {
      for (let step = 1; step <= migrationSteps; step++) {
        await new Promise((resolve) => setTimeout(resolve, this.migrationMs / migrationSteps));
        if (task?.cancelling) throw new XapiFault("TASK_CANCELLED", [task.ref]);
        if (this.db.get("VM", ref as string) === undefined) throw new XapiFault("HANDLE_INVALID", ["VM", String(ref)]);
        if (step < migrationSteps) task?.progress(step / migrationSteps);
      }
      this.reside(ref as string, target);
    } finally {
      if (this.db.get("VM", ref as string) !== undefined) this.db.update(ref as string, { current_operations: {} });
    }
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

  /** VM.add_to_xenstore_data / remove_from_xenstore_data: the map XAPI writes into the guest's xenstore at start. */
  addToXenstoreData(ref: unknown, key: unknown, value: unknown): void {
    const data = { ...((this.vm(ref)["xenstore_data"] as Record<string, string> | undefined) ?? {}) };
    if (String(key) in data) throw new XapiFault("MAP_DUPLICATE_KEY", ["VM", "xenstore_data", String(ref), String(key)]);
    data[String(key)] = String(value);
    this.db.update(ref as string, { xenstore_data: data });
  }

  removeFromXenstoreData(ref: unknown, key: unknown): void {
    const data = { ...((this.vm(ref)["xenstore_data"] as Record<string, string> | undefined) ?? {}) };
    delete data[String(key)];
    this.db.update(ref as string, { xenstore_data: data });
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

  /** Memory left for guests on a host (default: the master): total minus dom0 minus every running or paused VM resident there. */
  freeMemory(host: string = this.refs.host): number {
    let used = dom0MemoryBytes;
    for (const [, vm] of this.db.all("VM")) {
      if (vm["is_control_domain"] === true || vm["resident_on"] !== host) continue;
      if (vm["power_state"] === "Running" || vm["power_state"] === "Paused") used += Number(vm["memory_static_max"]);
    }
    return this.memoryTotal - used;
  }

  /** The pool's hosts, the master first. */
  hosts(): string[] {
    return [this.refs.host, ...this.refs.members];
  }

  /** The host ref; HANDLE_INVALID when it names no host. */
  private host(ref: unknown): string {
    if (typeof ref !== "string" || this.db.get("host", ref) === undefined) throw new XapiFault("HANDLE_INVALID", ["host", String(ref)]);
    return ref;
  }

  /** Sets resident_on, keeps both hosts' resident_VMs and memory_free in step (XAPI's own bookkeeping). */
  private reside(ref: string, host: string): void {
    const before = this.db.get("VM", ref)?.["resident_on"];
    this.db.update(ref, { resident_on: host });
    for (const h of new Set([before, host])) {
      const record = typeof h === "string" ? this.db.get("host", h) : undefined;
      if (record === undefined) continue;
      const resident = (record["resident_VMs"] as string[]).filter((vm) => vm !== ref);
      if (h === host) resident.push(ref);
      this.db.update(h as string, { resident_VMs: resident });
      this.db.update(String(record["metrics"]), { memory_free: this.freeMemory(h as string) });
    }
  }

  /** A running guest with a NIC reports its address through its guest tools (VM_guest_metrics). */
  private guestMetrics(ref: string, running: boolean): void {
    const vm = this.db.get("VM", ref);
    if (vm === undefined) return;
    const old = String(vm["guest_metrics"]);
    if (old !== "OpaqueRef:NULL") this.db.remove(old);
    let metrics = "OpaqueRef:NULL";
    if (running && (vm["VIFs"] as string[]).length > 0) {
      metrics = this.db.add("VM_guest_metrics", { networks: { "0/ip": `10.0.0.${2 + (this.nextAddress++ % 250)}` }, PV_drivers_detected: true });
    }
    this.db.update(ref, { guest_metrics: metrics });
  }

  /**
   * VM_metrics as XAPI keeps them: memory_actual (bytes the domain holds: its dynamic target once
   * running, 0 halted) and VCPUs_utilisation (per VCPU, 0..1; a paused domain uses none). Each
   * running VCPU of the fake idles at 2–12 % busy.
   */
  private vmMetrics(ref: string, state: PowerState): void {
    const vm = this.db.get("VM", ref);
    const metrics = vm?.["metrics"];
    if (typeof metrics !== "string" || this.db.get("VM_metrics", metrics) === undefined) return;
    const vcpus = Number(vm!["VCPUs_at_startup"]);
    const up = state === "Running" || state === "Paused";
    const utilisation: Record<string, number> = {};
    if (up) for (let i = 0; i < vcpus; i++) utilisation[String(i)] = state === "Running" ? Math.round((0.02 + Math.random() * 0.1) * 1000) / 1000 : 0;
    this.db.update(metrics, {
      memory_actual: up ? Number(vm!["memory_dynamic_max"] ?? vm!["memory_static_max"]) : 0,
      VCPUs_number: up ? vcpus : 0,
      VCPUs_utilisation: utilisation,
      state: state === "Running" ? ["running"] : state === "Paused" ? ["paused"] : [],
      start_time: up ? new Date().toISOString() : new Date(0).toISOString(),
      last_updated: new Date().toISOString(),
    });
  }

  private expectPower(ref: unknown, vm: XapiRecord, expected: PowerState): void {
    if (vm["power_state"] !== expected) throw new XapiFault("VM_BAD_POWER_STATE", [String(ref), lower(expected), lower(vm["power_state"])]);
  }

  /** A new power state; a VM that starts runs on `host`, one that stays up stays where it is, a halted one is resident nowhere. */
  private setPower(ref: string, state: PowerState, host?: string): void {
    const running = state === "Running" || state === "Paused";
    this.guestMetrics(ref, running);
    this.vmMetrics(ref, state);
    const vm = this.vm(ref);
    const wasUp = vm["power_state"] === "Running" || vm["power_state"] === "Paused";
    this.db.update(ref, { power_state: state, domid: running ? (wasUp ? vm["domid"] : 1 + Math.floor(Math.random() * 1000)) : -1 });
    this.reside(ref, running ? (host ?? String(vm["resident_on"])) : "OpaqueRef:NULL");
  }
}

/** A halted VM's VM_metrics (XAPI makes one with every VM). */
function haltedMetrics(): XapiRecord {
  return { memory_actual: 0, VCPUs_number: 0, VCPUs_utilisation: {}, state: [], start_time: new Date(0).toISOString(), last_updated: new Date().toISOString(), other_config: {} };
}

function lower(value: unknown): string {
  return String(value).toLowerCase();
}
