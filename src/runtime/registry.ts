// How a controller plugs into the manager: a name and a factory. Controllers for the Omnivisor
// kinds live in controllers/<kind>/ and export one ControllerRegistration each; the manager
// entry point (src/cmd/manager.ts) lists them.
import type { ControllerDeps } from "./controller.ts";
import type { Informer, InformerStats } from "./informer.ts";
import type { KubeObject } from "./resource.ts";
import type { AdmissionHandler } from "./webhook-server.ts";

/** What the manager needs from a controller, whatever kind it handles. */
export interface ManagedController {
  readonly name: string;
  readonly informer: { readonly synced: boolean; readonly stats: InformerStats; get(key: string): KubeObject | undefined };
  startCache(): void;
  startWorkers(): Promise<void>;
  stop(): Promise<void>;
  abort(): void;
}

export interface ControllerRegistration {
  /** Unique; used for --controllers selection, metric labels and log lines. */
  name: string;
  create(deps: ControllerDeps): ManagedController;
}

/** An admission handler the manager serves on every replica, with the caches it reads. */
export interface ManagedAdmission extends AdmissionHandler {
  readonly caches: Informer<KubeObject>[];
}

export interface AdmissionRegistration {
  name: string;
  create(deps: ControllerDeps): ManagedAdmission;
}
