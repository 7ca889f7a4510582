// Maintenance that empties a host. drainPolicy Migrate: a VMMigration per VM (live; the VMMigration
// controller keeps them within its limits and places each), never a VM stopped to make progress;
// the VMs that cannot move are named. Shutdown: the VirtualMachine controller keeps the host's VMs
// stopped while it is in maintenance; the host waits for them to be off. Maintenance ends: moves
// not yet started are withdrawn, nothing moves back.
import { createHash } from "node:crypto";
import type { HostObject, VmMigrationObject, VmObject } from "../../src/fleet/kinds.ts";
import { inFlight } from "../../src/fleet/moves.ts";

export const drainHostLabel = "omnivisor.io/drain-host";
/** A failed drain move is tried again after this long (capacity may have been freed). */
export const drainRetryMs = 60_000;

export interface DrainView {
  /** The VMs whose status names the host. */
  vms: readonly VmObject[];
  /** Every VMMigration of a VM (by namespace/name). */
  migrationsOf(vmKey: string): readonly VmMigrationObject[];
  now: number;
}

export interface DrainPlan {
  /** VMMigrations to create. */
  create: VmMigrationObject[];
  /** Drain VMMigrations to delete (failed ones to try again; withdrawn ones). */
  remove: VmMigrationObject[];
  /** One line per VM still on the host: moving, waiting, or why it cannot move. */
  left: string[];
  /** Nothing left to do: the host is empty (Migrate) or its VMs are off (Shutdown). */
  done: boolean;
}

const key = (vm: VmObject): string => `${vm.metadata.namespace ?? ""}/${vm.metadata.name}`;

/** The drain VMMigration's name for a VM: stable, so a repeated pass never makes a second. */
export function drainMigrationName(host: string, vm: string): string {
  const name = `drain-${host}-${vm}`;
  if (name.length <= 253) return name;
  return `drain-${createHash("sha256").update(`${host}/${vm}`).digest("hex").slice(0, 16)}-${vm.slice(0, 200)}`;
}

function cannotLiveMigrate(host: HostObject): string | undefined {
  if (host.spec.driver === "docker") return "Docker has no live migration (drainPolicy Migrate never stops a VM)";
  if (host.spec.driver === "esxi") return "a standalone ESXi host has no vMotion without vCenter";
  return undefined;
}

function pinned(vm: VmObject, host: string): boolean {
  const hosts = vm.spec.placement?.hosts;
  return hosts !== undefined && hosts.every((h) => h === host);
}

const percentOf = (m: VmMigrationObject): string => (m.status?.progress?.percent !== undefined ? `, ${m.status.progress.percent}%` : "");

export function planDrain(host: HostObject, view: DrainView): DrainPlan {
  const name = host.metadata.name;
  const plan: DrainPlan = { create: [], remove: [], left: [], done: false };
  if ((host.spec.drainPolicy ?? "Migrate") === "Shutdown") {
    const on = view.vms.filter((vm) => vm.status?.powerState !== "Stopped");
    plan.left = on.map((vm) => `${key(vm)} shutting down (${vm.status?.powerState ?? "Unknown"})`);
    plan.done = on.length === 0;
    return plan;
  }
  const driverRefuses = cannotLiveMigrate(host);
  for (const vm of view.vms) {
    const id = key(vm);
    if (driverRefuses) {
      plan.left.push(`${id} cannot move: ${driverRefuses}`);
      continue;
    }
    if (pinned(vm, name)) {
      plan.left.push(`${id} cannot move: pinned to this host by spec.placement.hosts`);
      continue;
    }
    const migrations = view.migrationsOf(id);
    const moving = migrations.find(inFlight);
    if (moving) {
      plan.left.push(`${id} ${moving.status?.phase === "Running" ? "moving" : "waiting to move"} (VMMigration ${moving.metadata.name}${percentOf(moving)})`);
      continue;
    }
    const mine = migrations.find((m) => m.metadata.name === drainMigrationName(name, vm.metadata.name));
    if (mine?.status?.phase === "Failed") {
      const why = mine.status.conditions?.find((c) => c.type === "Ready")?.message ?? "failed";
      plan.left.push(`${id} cannot move: ${why}`);
      const failedAt = Date.parse(mine.status.completedAt ?? "");
      if (!Number.isFinite(failedAt) || view.now - failedAt >= drainRetryMs) plan.remove.push(mine);
      continue;
    }
    if (mine) {
      // finished, yet the VM is (again) here: a cancelled move, or one recorded before it came back
      plan.left.push(`${id} waiting to move`);
      plan.remove.push(mine);
      continue;
    }
    plan.left.push(`${id} waiting to move`);
    plan.create.push({
      apiVersion: "omnivisor.io/v1alpha1",
      kind: "VMMigration",
      metadata: { name: drainMigrationName(name, vm.metadata.name), namespace: vm.metadata.namespace ?? "", labels: { [drainHostLabel]: name } },
      spec: { virtualMachine: vm.metadata.name, live: true },
    });
  }
  plan.done = view.vms.length === 0;
  return plan;
}

/** Maintenance ended: the drain's moves that have not started are withdrawn; running ones finish. */
export function withdrawDrain(drainMigrations: readonly VmMigrationObject[]): VmMigrationObject[] {
  return drainMigrations.filter((m) => m.status?.phase !== "Running");
}
