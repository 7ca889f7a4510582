// FAKE WinRM — live migration between fake Hyper-V hosts: Move-VM (shared-nothing, with
// -IncludeStorage -DestinationStoragePath) to a peer host the test linked, the Msvm_MigrationJob
// the virtual system migration service keeps for it in root\virtualization\v2 (JobState,
// PercentComplete, Cancellable, DestinationHost, VirtualSystemName = the VM's Id), and
// RequestStateChange(RequestedState = 4, Terminate) through Invoke-CimMethod to cancel it.
// Written from the published Msvm_MigrationJob / CIM_ConcreteJob reference; it is a fake: the
// move takes `migrationMs` in ten steps and nothing is copied but the fake's own records.
import { randomUUID } from "node:crypto";
import type { FakeHyperV, FakeVm } from "./hyperv.ts";
import { PsError, type PsValue, text } from "./powershell.ts";

/** CIM_ConcreteJob.JobState */
export const JobState = { New: 2, Starting: 3, Running: 4, Suspended: 5, ShuttingDown: 6, Completed: 7, Terminated: 8, Killed: 9, Exception: 10 } as const;

/** RequestStateChange's RequestedState and return values. */
const Terminate = 4;
const ReturnValue = { Completed: 0, InvalidState: 32775, NotSupported: 32770 } as const;

export interface FakeMigrationJob {
  InstanceID: string;
  ElementName: string;
  /** Msvm_VirtualSystemMigrationSettingData.MigrationType: 32771 = virtual system and storage. */
  MigrationType: number;
  VirtualSystemName: string;
  DestinationHost: string;
  JobState: number;
  PercentComplete: number;
  Cancellable: boolean;
  ErrorCode: number;
  ErrorDescription: string;
}

/** A job travelling through the pipeline (Get-CimInstance | Invoke-CimMethod) keeps its identity. */
export class JobRef {
  readonly job: FakeMigrationJob;
  constructor(job: FakeMigrationJob) {
    this.job = job;
  }
}

const steps = 10;

export class FakeMigrations {
  private readonly host: FakeHyperV;
  /** Other fake hosts Move-VM can reach, by computer name (lower case). */
  readonly peers = new Map<string, FakeHyperV>();
  /** Every migration job of this host (Hyper-V keeps finished ones for TimeBeforeRemoval, 5 minutes). */
  readonly jobs: FakeMigrationJob[] = [];
  /** How long a Move-VM takes: long enough to see its progress, short enough for tests. */
  migrationMs = 400;

  constructor(host: FakeHyperV) {
    this.host = host;
  }

  /** Move-VM -DestinationHost: the VM, its state and its disk files end up on the peer host. */
  async moveVm(vm: FakeVm, params: Record<string, PsValue>): Promise<void> {
    const destinationName = text(params["destinationhost"]);
    const destination = this.peers.get(destinationName.toLowerCase());
    const failed = (detail: string, category: string, id: string): PsError =>
      new PsError("Move-VM", `Virtual machine migration operation for '${vm.Name}' failed at migration source '${this.host.computerName}'. (Virtual machine ID ${vm.Id.toUpperCase()}) ${detail}`, category, id);
    if (destination === undefined) {
      throw failed(`Failed to establish a connection with host '${destinationName}': No such host is known. (0x80072AF9).`, "ConnectionError", "VirtualizationException");
    }
    if (this.jobs.some((j) => j.VirtualSystemName.toLowerCase() === vm.Id.toLowerCase() && running(j))) throw failed("The virtual machine is already being migrated.", "InvalidOperation", "InvalidState");
    if (destination.vms.has(vm.Id)) throw failed(`A virtual machine with ID ${vm.Id.toUpperCase()} already exists on '${destinationName}'.`, "ResourceExists", "VirtualizationException");
    const job: FakeMigrationJob = {
      InstanceID: randomUUID().toUpperCase(),
      ElementName: "Virtual Machine Migration",
      MigrationType: 32771,
      VirtualSystemName: vm.Id.toUpperCase(),
      DestinationHost: destinationName,
      JobState: JobState.Running,
      PercentComplete: 0,
      Cancellable: true,
      ErrorCode: 0,
      ErrorDescription: "",
    };
    this.jobs.push(job);
    for (let step = 1; step <= steps; step++) {
      await new Promise((resolve) => setTimeout(resolve, this.migrationMs / steps));
      if (job.JobState === JobState.Terminated) {
        Object.assign(job, { ErrorCode: 32768, ErrorDescription: "The operation was cancelled.", Cancellable: false });
        throw failed("The operation was cancelled.", "OperationStopped", "VirtualizationException");
      }
      if (!this.host.vms.has(vm.Id)) {
        Object.assign(job, { JobState: JobState.Exception, ErrorCode: 32768, ErrorDescription: "The virtual machine was deleted.", Cancellable: false });
        throw failed("The virtual machine was deleted.", "ObjectNotFound", "VirtualizationException");
      }
      job.PercentComplete = step === steps ? 100 : step * (100 / steps);
    }
    Object.assign(job, { JobState: JobState.Completed, Cancellable: false });
    this.hand(vm, destination, text(params["destinationstoragepath"]));
  }

  /** Msvm_MigrationJob instances; -Filter takes one `Property='value'` comparison (WQL, case-insensitive). */
  query(filter: PsValue | undefined): JobRef[] {
    if (filter === undefined) return this.jobs.map((j) => new JobRef(j));
    const m = /^\s*(\w+)\s*=\s*'([^']*)'\s*$/.exec(text(filter));
    if (m === null) throw new PsError("Get-CimInstance", "Invalid query", "InvalidArgument", "HRESULT 0x80041017,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand");
    const [, property, value] = m as unknown as [string, keyof FakeMigrationJob, string];
    return this.jobs.filter((j) => String(j[property] ?? "").toLowerCase() === value.toLowerCase()).map((j) => new JobRef(j));
  }

  /** Invoke-CimMethod -MethodName RequestStateChange -Arguments @{RequestedState=4}: one ReturnValue per job. */
  invoke(method: string, args: PsValue | undefined, jobs: JobRef[]): PsValue[] {
    if (method.toLowerCase() !== "requeststatechange") {
      throw new PsError("Invoke-CimMethod", `Method "${method}" not found`, "ObjectNotFound", "HRESULT 0x80041055,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand");
    }
    const requested = Number((args as Record<string, PsValue> | undefined)?.["RequestedState"]);
    return jobs.map(({ job }) => {
      if (requested !== Terminate) return { ReturnValue: ReturnValue.NotSupported };
      if (!running(job) || !job.Cancellable) return { ReturnValue: ReturnValue.InvalidState };
      job.JobState = JobState.Terminated;
      return { ReturnValue: ReturnValue.Completed };
    });
  }

  /** The switch-over: the VM leaves this host and runs on the other, its disks in the storage path. */
  private hand(vm: FakeVm, destination: FakeHyperV, storagePath: string): void {
    this.host.vms.delete(vm.Id);
    const moved = vm.HardDrives.map((path) => {
      const target = storagePath === "" ? path : `${storagePath}\\${path.slice(path.lastIndexOf("\\") + 1)}`;
      const file = this.host.files.get(path.toLowerCase());
      this.host.files.delete(path.toLowerCase());
      if (file !== undefined) destination.files.set(target.toLowerCase(), file);
      return target;
    });
    destination.vms.set(vm.Id, { ...vm, HardDrives: moved });
  }
}

function running(job: FakeMigrationJob): boolean {
  return job.JobState >= JobState.New && job.JobState <= JobState.ShuttingDown;
}
